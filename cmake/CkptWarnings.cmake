# ckpt_apply_warnings(target [CONVERSION])
# Our own targets only; -Werror when CKPT_WERROR is on (CI).
function(ckpt_apply_warnings target)
  cmake_parse_arguments(ARG "CONVERSION" "" "" ${ARGN})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
  if(ARG_CONVERSION)
    target_compile_options(${target} PRIVATE -Wconversion)
  endif()
  if(CKPT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Compile definitions shared by our Qt targets (STYLE.md section 2).
function(ckpt_apply_qt_definitions target)
  target_compile_definitions(${target} PRIVATE
    QT_NO_CAST_FROM_ASCII QT_NO_CAST_TO_ASCII QT_USE_QSTRINGBUILDER
    QT_NO_URL_CAST_FROM_STRING QT_DISABLE_DEPRECATED_BEFORE=0x060400)
endfunction()
