from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from forms_builder import services as forms_services
from forms_builder.models import CustomForm, FormSubmission
from knowledge import services as kb_services
from knowledge.models import KnowledgeArticle, KnowledgeArticleAttachment
from nixflow.models import User
from tests.support.matrix import PNG
from tests.support.s3 import object_storage, s3_server  # noqa: F401


def kb_and_form_files(
    agent: User, form: CustomForm, *, title: str
) -> tuple[KnowledgeArticle, KnowledgeArticleAttachment, FormSubmission]:
    """A knowledge article with a PNG attached (``kb.png``) and a submission of ``form``
    with a PNG screenshot (``form.png``): the files of two of the apps' download views."""
    article = kb_services.article_create(title=title, body="See the file.", author=agent)
    kb = kb_services.attachment_add(
        article=article, upload=SimpleUploadedFile("kb.png", PNG), actor=agent
    )
    submission = forms_services.submission_create(
        form=form,
        data={"service": "VPN", "impact": "Just me", "details": "No tunnel."},
        files={"screenshot": [SimpleUploadedFile("form.png", PNG, content_type="image/png")]},
        submitter=None,
        submitter_email="ann@example.com",
    )
    return article, kb, submission
