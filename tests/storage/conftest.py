from tests.support.s3 import object_storage, s3_server  # noqa: F401
