# Item models, proxies and background jobs of the GUI (included by model/CMakeLists.txt).
target_sources(ckpt_model PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/modeltypes.h
  ${CMAKE_CURRENT_LIST_DIR}/modelroles.h
  ${CMAKE_CURRENT_LIST_DIR}/displayformat.h ${CMAKE_CURRENT_LIST_DIR}/displayformat.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kindicons.h ${CMAKE_CURRENT_LIST_DIR}/kindicons.cpp
  ${CMAKE_CURRENT_LIST_DIR}/themecolors.h ${CMAKE_CURRENT_LIST_DIR}/themecolors.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpointtree.h ${CMAKE_CURRENT_LIST_DIR}/checkpointtree.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpointtreemodel.h ${CMAKE_CURRENT_LIST_DIR}/checkpointtreemodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tensorfilterproxymodel.h ${CMAKE_CURRENT_LIST_DIR}/tensorfilterproxymodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jobsupport.h
  ${CMAKE_CURRENT_LIST_DIR}/checkpointloadjob.h ${CMAKE_CURRENT_LIST_DIR}/checkpointloadjob.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tensorstatsjob.h ${CMAKE_CURRENT_LIST_DIR}/tensorstatsjob.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tensorhealthscanjob.h ${CMAKE_CURRENT_LIST_DIR}/tensorhealthscanjob.cpp
  ${CMAKE_CURRENT_LIST_DIR}/statstablemodel.h ${CMAKE_CURRENT_LIST_DIR}/statstablemodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tensorslicemodel.h ${CMAKE_CURRENT_LIST_DIR}/tensorslicemodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sliceheatmapjob.h ${CMAKE_CURRENT_LIST_DIR}/sliceheatmapjob.cpp
  ${CMAKE_CURRENT_LIST_DIR}/keyvaluemodel.h ${CMAKE_CURRENT_LIST_DIR}/keyvaluemodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/globalsmodel.h ${CMAKE_CURRENT_LIST_DIR}/globalsmodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dtypemixmodel.h ${CMAKE_CURRENT_LIST_DIR}/dtypemixmodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/diffmodel.h ${CMAKE_CURRENT_LIST_DIR}/diffmodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/diffvaluemodel.h ${CMAKE_CURRENT_LIST_DIR}/diffvaluemodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/difffilterproxymodel.h ${CMAKE_CURRENT_LIST_DIR}/difffilterproxymodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/diffjob.h ${CMAKE_CURRENT_LIST_DIR}/diffjob.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tensorcomparejob.h ${CMAKE_CURRENT_LIST_DIR}/tensorcomparejob.cpp
)
# Icons and colours for DecorationRole/ForegroundRole; SVG icons are rendered with QSvgRenderer.
# Never Qt6::Widgets here.
target_link_libraries(ckpt_model PRIVATE Qt6::Gui Qt6::Svg)

# The tree icons are compiled into ckpt_model so that every consumer (app, tests) has them.
set(_ckpt_icon_dir ${PROJECT_SOURCE_DIR}/resources/icons)
set(_ckpt_icons
  file.svg module.svg parameter.svg buffer.svg tensor.svg dict.svg list.svg scalar.svg
  object.svg warning.svg danger.svg ckpt-browser.svg)
list(TRANSFORM _ckpt_icons PREPEND ${_ckpt_icon_dir}/ OUTPUT_VARIABLE _ckpt_icon_files)
qt_add_resources(ckpt_model ckpt_icons
  PREFIX /icons
  BASE ${_ckpt_icon_dir}
  FILES ${_ckpt_icon_files})
