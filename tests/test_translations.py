"""The translations are complete and shipped as they are written.

- Every project app is run through ``makemessages`` for each of the desk's languages
  besides English, in a copy of the app (so that the test never rewrites the
  repository): a message without a translation, or one marked fuzzy (a guess gettext
  made when the English changed), fails the test, named with its app. An app that marks
  strings but has no catalog fails the same way.
- The committed ``.mo`` files say what their ``.po`` files say: each ``.po`` is compiled
  to a temporary ``.mo`` and the two catalogs' messages compared.
- Every app with a ``locale`` folder has every such language.

makemessages and msgfmt are GNU gettext's; ``scripts/gettext_deps.sh`` installs them.
"""

from __future__ import annotations

import ast
import gettext
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from nixflow.toolkit.language import catalog_update

ROOT = Path(settings.BASE_DIR).resolve()
# Folders makemessages never needs: they only slow the copy.
SKIP = shutil.ignore_patterns("__pycache__", "migrations", "static", "locale", "*.mo")


def _needs_gettext() -> None:
    for tool in ("xgettext", "msgmerge", "msgfmt"):
        if shutil.which(tool) is None:
            pytest.fail(f"GNU gettext's {tool} is needed: run scripts/gettext_deps.sh.")


def project_apps() -> list[Path]:
    """The folders of the apps in INSTALLED_APPS that belong to this repository."""
    folders = []
    for config in apps.get_app_configs():
        folder = Path(config.path).resolve()
        if folder.is_relative_to(ROOT) and "site-packages" not in folder.parts:
            folders.append(folder)
    return sorted(folders)


def languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES if code != "en"]


@dataclass
class Entry:
    context: str | None = None
    msgid: str = ""
    strings: list[str] = field(default_factory=list)
    fuzzy: bool = False

    @property
    def name(self) -> str:
        return f"{self.context}|{self.msgid}" if self.context else self.msgid


def _keyword(line: str) -> tuple[str, str]:
    """("msgid", '"Open"') of 'msgid "Open"'; ("", line) of a continued string."""
    if line.startswith('"'):
        return "", line
    word, _, rest = line.partition(" ")
    return word.split("[")[0], rest


def parse_po(text: str) -> list[Entry]:
    """The entries of a .po file (obsolete ``#~`` ones left out), the header included."""
    entries: list[Entry] = [Entry()]
    last = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#~") or (line.startswith("#") and line[:2] != "#,"):
            continue
        entry = entries[-1]
        if line.startswith(("#,", "msgctxt", "msgid ")) and entry.strings:
            entry = Entry()
            entries.append(entry)
        if line.startswith("#,"):
            entry.fuzzy = "fuzzy" in line
            continue
        word, value = _keyword(line)
        text_value = ast.literal_eval(value)
        last = word or last
        if word == "msgstr":
            entry.strings.append(text_value)
        elif last == "msgstr":
            entry.strings[-1] += text_value
        elif last == "msgctxt":
            entry.context = (entry.context or "") + text_value
        elif last == "msgid":
            entry.msgid += text_value
    return [e for e in entries if e.strings]


def untranslated(po: Path) -> list[str]:
    """The messages of ``po`` with an empty translation or marked fuzzy."""
    return [
        f"{e.name!r}" + (" (fuzzy)" if e.fuzzy else " (empty)")
        for e in parse_po(po.read_text())
        if e.msgid and (e.fuzzy or not all(e.strings))
    ]


@pytest.mark.parametrize("language", languages())
def test_every_marked_string_of_every_app_has_a_translation(language: str, tmp_path: Path) -> None:
    _needs_gettext()
    problems = []
    for folder in project_apps():
        copy = tmp_path / folder.name
        shutil.copytree(folder, copy, ignore=SKIP)
        catalog = folder / "locale" / language / "LC_MESSAGES" / "django.po"
        if catalog.exists():
            target = copy / "locale" / language / "LC_MESSAGES"
            target.mkdir(parents=True)
            shutil.copy(catalog, target / "django.po")
        po = catalog_update(copy, language=language)
        if not po.exists():
            continue  # nothing marked for translation in this app
        missing = untranslated(po)
        if missing:
            where = f"{folder.name}/locale/{language}" + ("" if catalog.exists() else " (none)")
            problems.append(f"{where}: {len(missing)}\n    " + "\n    ".join(missing[:40]))
    assert not problems, (
        "Messages without a translation; run makemessages in the app and translate them "
        "(docs/languages.md):\n" + "\n".join(problems)
    )


def catalogs() -> list[Path]:
    return sorted(
        po
        for folder in project_apps()
        for po in (folder / "locale").glob("*/LC_MESSAGES/django.po")
    )


def _messages(mo: Path) -> dict[object, object]:
    with mo.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    return dict(translations._catalog)  # type: ignore[attr-defined]  # the messages


@pytest.mark.parametrize("po", catalogs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_committed_mo_file_is_compiled_from_its_po_file(po: Path, tmp_path: Path) -> None:
    _needs_gettext()
    committed = po.with_suffix(".mo")
    assert committed.exists(), f"{committed.relative_to(ROOT)} is missing: run compilemessages"
    fresh = tmp_path / "django.mo"
    subprocess.run(
        ["msgfmt", "--check-format", "-o", str(fresh), str(po)],
        check=True,
        capture_output=True,
    )
    assert _messages(committed) == _messages(fresh), (
        f"{committed.relative_to(ROOT)} is older than its .po: run compilemessages in the app"
    )


def test_every_app_with_a_locale_folder_has_every_language() -> None:
    missing = [
        f"{folder.name}/locale/{language}"
        for folder in project_apps()
        if (folder / "locale").is_dir()
        for language in languages()
        if not (folder / "locale" / language / "LC_MESSAGES" / "django.po").exists()
    ]
    assert not missing, f"Catalogs missing: {', '.join(missing)}"


def test_the_check_finds_an_empty_and_a_fuzzy_translation(tmp_path: Path) -> None:
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: de\\n"\n\n'
        'msgid "Done"\nmsgstr "Erledigt"\n\n'
        'msgid "Open"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Close"\nmsgstr "Schließen"\n\n'
        'msgctxt "verb"\nmsgid "Send"\nmsgstr "Senden"\n\n'
        'msgid "%(n)s file"\nmsgid_plural "%(n)s files"\nmsgstr[0] "%(n)s Datei"\n'
        'msgstr[1] ""\n'
    )
    assert untranslated(po) == ["'Open' (empty)", "'Close' (fuzzy)", "'%(n)s file' (empty)"]
