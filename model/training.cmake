# Training-state recognition and optimizer id mapping (issue 4): trainingstate.* is in the
# Qt-free ckpt_report library (model/CMakeLists.txt), which ckpt_model links.
# The GUI side of issue 4: training overview, optimizer tables, training summary, summary job.
target_sources(ckpt_model PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/trainingoverview.h ${CMAKE_CURRENT_LIST_DIR}/trainingoverview.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tensorsummaryjob.h ${CMAKE_CURRENT_LIST_DIR}/tensorsummaryjob.cpp
  ${CMAKE_CURRENT_LIST_DIR}/paramgroupsmodel.h ${CMAKE_CURRENT_LIST_DIR}/paramgroupsmodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/optimizerparamsmodel.h ${CMAKE_CURRENT_LIST_DIR}/optimizerparamsmodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trainingsummarymodel.h ${CMAKE_CURRENT_LIST_DIR}/trainingsummarymodel.cpp)
