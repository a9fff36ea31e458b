# Reader, report and CLI tests (against torch's expected values).
ckpt_add_test(checkpointreader LIBS ckpt_model)
ckpt_add_test(oracle LIBS ckpt_model TIMEOUT 600)
ckpt_add_test(inspect LIBS ckpt_model)
add_dependencies(tst_inspect ckpt-inspect)
ckpt_add_test(damaged LIBS ckpt_model)
add_dependencies(tst_damaged ckpt-inspect)
ckpt_add_test(zip64 LIBS ckpt_model)
