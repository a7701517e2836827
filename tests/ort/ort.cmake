# qbench run vs onnxruntime (relative L2 <= 1e-5) on the yolo11n fixture with real
# images and on tests/data/*-tiny-*.onnx. Included from tests/CMakeLists.txt.
# onnxruntime-node comes from npm into ~/.cache/qbench/npm; without it the test
# is skipped (exit 77).
add_test(NAME ort_compare
         COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/run_ort_test.sh
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(ort_compare PROPERTIES
                     ENVIRONMENT "QB_SOURCE_DIR=${CMAKE_SOURCE_DIR};QB_BINARY=$<TARGET_FILE:qbench>;QB_DEMO_DIR=${CMAKE_BINARY_DIR}/demo"
                     SKIP_RETURN_CODE 77
                     TIMEOUT 600)
