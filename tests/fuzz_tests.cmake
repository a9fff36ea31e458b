# Inputs the fuzzers found (tests/fixtures/fuzz/<harness>/, docs/FUZZING.md), replayed in the
# normal build through the harnesses' own code (tests/fuzz/fuzzsupport.h).
ckpt_add_test(fuzzregressions LIBS ckpt_format)
target_include_directories(tst_fuzzregressions PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
