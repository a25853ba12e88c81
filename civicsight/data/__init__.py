"""Data files shipped with the hub: the demo's camera files and media list, plate formats
by region. Read with ``civicsight.resources.data_path``."""
