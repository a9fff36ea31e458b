# The layering of docs/ARCHITECTURE.md, checked on the sources (ctest: layering):
#   model/format    standard C++ (and zlib) only: no Qt, nothing from the layers above;
#   model/analysis  format and nlohmann_json: no Qt;
#   model/items     analysis and Qt Core/Gui: no QtWidgets, no background jobs;
#   model/jobs      items and QtConcurrent: no QtWidgets;
#   nothing in model/ includes anything of widgets/ or app/.
# Run as: cmake -DROOT=<source dir> -P check_layers.cmake
set(problems "")
function(check_folder folder)
  cmake_parse_arguments(ARG "" "" "FORBIDDEN" ${ARGN})
  file(GLOB files ${ROOT}/${folder}/*.h ${ROOT}/${folder}/*.cpp)
  foreach(f ${files})
    file(STRINGS ${f} includes REGEX "^#include")
    foreach(line ${includes})
      foreach(pattern ${ARG_FORBIDDEN})
        if(line MATCHES "${pattern}")
          file(RELATIVE_PATH rel ${ROOT} ${f})
          list(APPEND problems "${rel}: ${line}")
        endif()
      endforeach()
    endforeach()
  endforeach()
  set(problems ${problems} PARENT_SCOPE)
endfunction()

# Headers of each layer, by file name.
foreach(layer analysis items jobs)
  file(GLOB hdrs RELATIVE ${ROOT}/model/${layer} ${ROOT}/model/${layer}/*.h)
  set(${layer}_headers ${hdrs})
endforeach()
file(GLOB widget_headers RELATIVE ${ROOT}/widgets ${ROOT}/widgets/*.h)
file(GLOB app_headers RELATIVE ${ROOT}/app ${ROOT}/app/*.h)
function(quoted out)
  set(result "")
  foreach(h ${ARGN})
    string(REPLACE "." "\\." h ${h})
    list(APPEND result "#include \"${h}\"")
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()
quoted(above_format ${analysis_headers} ${items_headers} ${jobs_headers} ${widget_headers} ${app_headers})
quoted(above_analysis ${items_headers} ${jobs_headers} ${widget_headers} ${app_headers})
quoted(above_items ${jobs_headers} ${widget_headers} ${app_headers})
quoted(above_jobs ${widget_headers} ${app_headers})

check_folder(model/format FORBIDDEN "#include <Q" "#include <qcustomplot" ${above_format})
check_folder(model/analysis FORBIDDEN "#include <Q" "#include <qcustomplot" ${above_analysis})
check_folder(model/items FORBIDDEN "#include <QtWidgets" "#include <QWidget" "#include <QApplication" ${above_items})
check_folder(model/jobs FORBIDDEN "#include <QtWidgets" "#include <QWidget" "#include <QApplication" ${above_jobs})

if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "Includes that run against the layers (docs/ARCHITECTURE.md):\n  ${text}")
endif()
list(LENGTH analysis_headers na)
list(LENGTH items_headers ni)
list(LENGTH jobs_headers nj)
message(STATUS "layers hold: format <- analysis (${na} headers) <- items (${ni}) <- jobs (${nj})")
