# The desktop application (included by app/CMakeLists.txt). MainWindow lives in a small static
# library so that tst_mainwindow can link it; ckpt-browser is main.cpp on top.
add_library(ckpt_browser_lib STATIC
  ${CMAKE_CURRENT_LIST_DIR}/mainwindow.h ${CMAKE_CURRENT_LIST_DIR}/mainwindow.cpp
  ${CMAKE_CURRENT_LIST_DIR}/screenshotter.h ${CMAKE_CURRENT_LIST_DIR}/screenshotter.cpp
)
target_include_directories(ckpt_browser_lib PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(ckpt_browser_lib PUBLIC ckpt_widgets Qt6::Widgets)
target_compile_definitions(ckpt_browser_lib PRIVATE QT_NO_FOREACH
  CKPT_VERSION="${PROJECT_VERSION}")
ckpt_apply_qt_definitions(ckpt_browser_lib)
ckpt_apply_warnings(ckpt_browser_lib)

add_executable(ckpt-browser ${CMAKE_CURRENT_LIST_DIR}/main.cpp)
target_link_libraries(ckpt-browser PRIVATE ckpt_browser_lib)
target_compile_definitions(ckpt-browser PRIVATE QT_NO_FOREACH CKPT_VERSION="${PROJECT_VERSION}")
ckpt_apply_qt_definitions(ckpt-browser)
ckpt_apply_warnings(ckpt-browser)
qt_add_resources(ckpt_browser_lib ckpt_browser_resources
  PREFIX /
  BASE ${PROJECT_SOURCE_DIR}/resources
  FILES ${PROJECT_SOURCE_DIR}/resources/about.html)

include(GNUInstallDirs)
install(TARGETS ckpt-browser RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/resources/ckpt-browser.desktop
        DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${PROJECT_SOURCE_DIR}/resources/icons/ckpt-browser.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
