# Checkpoint comparison (issue 5): the diff engine and `ckpt-inspect diff` against torch's
# values (tests/fixtures/expected_diff/, made by tests/fixtures/make_diff_fixtures.py) and
# fresh random pairs made by torch at test time (tests/oracle/torch_diff_oracle.py).
ckpt_add_test(diff LIBS ckpt_model)
add_dependencies(tst_diff ckpt-inspect)
