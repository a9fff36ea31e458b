# GUI tests: item models and proxies (Qt Gui for icons/colours), widgets and the main window.
# All run under QT_QPA_PLATFORM=offscreen (set by ckpt_add_test).
foreach(t checkpointtreemodel tensorfilterproxymodel tensorslicemodel keyvaluemodel globalsmodel
          statsjobs)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_${t}.cpp)
    ckpt_add_test(${t} LIBS ckpt_model Qt6::Gui nlohmann_json::nlohmann_json)
  endif()
endforeach()

if(TARGET ckpt_widgets)
  # The plot tests look inside QCustomPlot (hover, exports).
  find_package(Qt6 REQUIRED COMPONENTS PrintSupport)
  find_package(QCustomPlotQt6 REQUIRED)
  foreach(t histogramplot tensordetailspanel checkpointpanel)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_${t}.cpp)
      ckpt_add_test(${t} LIBS ckpt_widgets QCustomPlotQt6::QCustomPlotQt6 nlohmann_json::nlohmann_json)
    endif()
  endforeach()
endif()

if(TARGET ckpt_browser_lib)
  foreach(t mainwindow screenshot)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_${t}.cpp)
      ckpt_add_test(${t} LIBS ckpt_browser_lib nlohmann_json::nlohmann_json)
    endif()
  endforeach()
  # Layout and palette at 1280x720 (issue 16 item 9): looks inside the plots.
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tst_layout.cpp)
    find_package(QCustomPlotQt6 REQUIRED)
    ckpt_add_test(layout LIBS ckpt_browser_lib QCustomPlotQt6::QCustomPlotQt6 nlohmann_json::nlohmann_json)
  endif()
  if(TARGET tst_mainwindow)
    add_dependencies(tst_mainwindow ckpt-inspect) # the GUI's totals are compared with `ls --json`
  endif()
  if(TARGET tst_screenshot)
    add_dependencies(tst_screenshot ckpt-browser)
    target_compile_definitions(tst_screenshot PRIVATE CKPT_BROWSER_EXE="$<TARGET_FILE:ckpt-browser>")
  endif()
endif()
include(${CMAKE_CURRENT_SOURCE_DIR}/training_gui_tests.cmake OPTIONAL)
# The Compare GUI (issue 5).
include(${CMAKE_CURRENT_SOURCE_DIR}/compare_gui_tests.cmake OPTIONAL)
