"""Data shipped with cobaya_plugins (the fiducial CMB spectrum and the script that made it)."""
