"""Data shipped with featviz_extras (the ImageNet class names and the script that made them)."""
