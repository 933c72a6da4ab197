"""Set-up of the featviz_extras tests; they import neither Cobaya nor cobaya_plugins.

Helpers shared by several test files are in ``featviz_testing.py`` (importable because pytest
puts this directory on the Python path).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, before import
