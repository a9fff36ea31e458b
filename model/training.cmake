# Training-state recognition and optimizer id mapping (issue 4).
target_sources(ckpt_model PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/trainingstate.h ${CMAKE_CURRENT_LIST_DIR}/trainingstate.cpp)
