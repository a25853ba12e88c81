"""Tools the civicsight command runs by module name (reports); never imported by the
kernel or the services."""
