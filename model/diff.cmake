# Checkpoint comparison (issue 5): alignment, metrics and reports, used by `ckpt-inspect diff`
# and the compare view. No Qt in it; diffengine.* is in the Qt-free ckpt_report library
# (model/CMakeLists.txt) next to the reports it extends, which ckpt_model links.
