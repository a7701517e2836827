# Tests that are scripts rather than C executables.
add_test(NAME cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_test.sh)
set_tests_properties(cli PROPERTIES ENVIRONMENT "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_BINARY=$<TARGET_FILE:qbench>")
add_test(NAME eval COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/eval_test.sh)
set_tests_properties(eval PROPERTIES TIMEOUT 600 ENVIRONMENT
                     "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_BINARY=$<TARGET_FILE:qbench>;QB_DEMO_DIR=${CMAKE_BINARY_DIR}/demo")
add_test(NAME eval_ref COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tools/test_eval_ref.py)
add_test(NAME calib COMMAND ${CMAKE_COMMAND} -E env QB_SOURCE_DIR=${CMAKE_SOURCE_DIR} QB_BINARY=$<TARGET_FILE:qbench> QB_DEMO_DIR=${CMAKE_BINARY_DIR}/demo bash ${CMAKE_CURRENT_SOURCE_DIR}/calib_test.sh)
add_test(NAME plan COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/plan_test.sh)
set_tests_properties(plan PROPERTIES TIMEOUT 600 ENVIRONMENT
                     "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_BINARY=$<TARGET_FILE:qbench>;QB_DEMO_DIR=${CMAKE_BINARY_DIR}/demo")
add_test(NAME sens COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sens_test.sh)
set_tests_properties(sens PROPERTIES TIMEOUT 600 ENVIRONMENT
                     "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_BINARY=$<TARGET_FILE:qbench>")
add_test(NAME export COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export_test.sh)
set_tests_properties(export PROPERTIES ENVIRONMENT "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_BINARY=$<TARGET_FILE:qbench>")
add_test(NAME tui COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tui_test.sh)
set_tests_properties(tui PROPERTIES TIMEOUT 1200 SKIP_RETURN_CODE 77 ENVIRONMENT
                     "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_BINARY=$<TARGET_FILE:qbench>;QB_DEMO_DIR=${CMAKE_BINARY_DIR}/demo")
add_test(NAME preset_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/preset_cli_test.sh)
set_tests_properties(preset_cli PROPERTIES TIMEOUT 300 ENVIRONMENT
                     "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_BINARY=$<TARGET_FILE:qbench>")

# Presets survive SIGKILL at any moment of a save (test_preset --save-loop).
add_test(NAME preset_kill COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/preset_kill_test.sh)
set_tests_properties(preset_kill PROPERTIES TIMEOUT 300 ENVIRONMENT
                     "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_TEST_PRESET=$<TARGET_FILE:test_preset>")
