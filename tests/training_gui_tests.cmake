# Issue 4 GUI: optimizer and training-summary models, the optimizer panel and module folding.
# Included by gui_tests.cmake; run offscreen like every GUI test.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_optimizermodels.cpp)
  ckpt_add_test(optimizermodels LIBS ckpt_model Qt6::Gui nlohmann_json::nlohmann_json)
endif()
if(TARGET ckpt_widgets AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_optimizerpanel.cpp)
  ckpt_add_test(optimizerpanel LIBS ckpt_widgets nlohmann_json::nlohmann_json)
endif()
