# Checkpoint comparison (issue 5): alignment, metrics and reports, used by `ckpt-inspect diff`
# and the compare view. No Qt in it; it lives in ckpt_model next to the reports it extends.
target_sources(ckpt_model PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/diffengine.h ${CMAKE_CURRENT_LIST_DIR}/diffengine.cpp)
