# Hardening tests (issue 6): bounded resources on hostile inputs, files that change while they
# are open, and never writing to what is opened.
ckpt_add_test(limits LIBS ckpt_format ZLIB::ZLIB)
ckpt_add_test(walks LIBS ckpt_model nlohmann_json::nlohmann_json)
ckpt_add_test(filechange LIBS ckpt_model nlohmann_json::nlohmann_json)
add_dependencies(tst_filechange ckpt-inspect)
ckpt_add_test(readonly LIBS ckpt_model)
add_dependencies(tst_readonly ckpt-inspect)
if(CKPT_BUILD_GUI AND TARGET ckpt_widgets)
  # The GUI halves: CheckpointPanel in-process, ckpt-browser --screenshot as a subprocess.
  target_link_libraries(tst_filechange PRIVATE ckpt_widgets)
  target_link_libraries(tst_readonly PRIVATE ckpt_widgets)
  target_compile_definitions(tst_filechange PRIVATE CKPT_WITH_GUI)
  target_compile_definitions(tst_readonly PRIVATE CKPT_WITH_GUI)
  if(TARGET ckpt-browser)
    add_dependencies(tst_readonly ckpt-browser)
    target_compile_definitions(tst_readonly PRIVATE CKPT_BROWSER_EXE="$<TARGET_FILE:ckpt-browser>")
  endif()
endif()
