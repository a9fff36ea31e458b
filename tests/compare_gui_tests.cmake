# The Compare GUI (issue 5): the comparison models, the compare panel and `ckpt-browser --compare`,
# against torch's values (tests/fixtures/expected_diff/, tests/fixtures/expected_compare/).
# Included by gui_tests.cmake; run offscreen like every GUI test.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_diffmodel.cpp)
  ckpt_add_test(diffmodel LIBS ckpt_model Qt6::Gui nlohmann_json::nlohmann_json)
endif()
if(TARGET ckpt_browser_lib AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_comparepanel.cpp)
  find_package(QCustomPlotQt6 REQUIRED)
  ckpt_add_test(comparepanel LIBS ckpt_browser_lib QCustomPlotQt6::QCustomPlotQt6 nlohmann_json::nlohmann_json)
  add_dependencies(tst_comparepanel ckpt-browser)
  target_compile_definitions(tst_comparepanel PRIVATE CKPT_BROWSER_EXE="$<TARGET_FILE:ckpt-browser>")
endif()
