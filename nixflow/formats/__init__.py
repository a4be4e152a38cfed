"""NixFlow's date and time formats (FORMAT_MODULE_PATH): see nixflow.toolkit.formats."""
