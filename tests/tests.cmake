# ctest suite. Every test reads its data from the repository (tests/data: the
# oracle models, reference logits, vocab and tokenizer/harmony cases, laid out
# as ../shared/oracle is). Only the optional dev-set scoring (eval_dev) reads
# ../shared/eval when it is there, and is reported skipped (77) when not.
set(RELIEF_TESTDATA ${CMAKE_SOURCE_DIR}/tests/data)
set(RELIEF_SHARED_EVAL ${CMAKE_SOURCE_DIR}/../shared/eval)

add_executable(test_guide tests/test_guide.c)
target_link_libraries(test_guide PRIVATE reliefguide)
add_test(NAME guide COMMAND test_guide)

add_executable(test_kb tests/test_kb.c)
target_include_directories(test_kb PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_kb PRIVATE reliefguide)
add_test(NAME kb COMMAND test_kb ${CMAKE_SOURCE_DIR}/kb)

# Plans in other languages: kb-check's numbers rule, numbers per language,
# placeholders, translations in the loader, the choice of a plan's language.
add_executable(test_i18n tests/test_i18n.c)
target_include_directories(test_i18n PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_i18n PRIVATE reliefguide)
add_test(NAME i18n COMMAND test_i18n)
# Plans in es, fr, pt: every complete language's example plan (text and
# JSON) in that language with the English numbers; lang and Accept-Language
# in relief serve. Fails while no language is declared complete.
add_test(NAME plan_lang COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_plan_lang.py $<TARGET_FILE:relief>
         ${CMAKE_SOURCE_DIR}/kb)

# The kb condition language (src/guide/cond.c) on facts built by hand.
add_executable(test_cond tests/test_cond.c)
target_include_directories(test_cond PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_cond PRIVATE reliefguide)
add_test(NAME cond COMMAND test_cond)

add_executable(test_limiter tests/test_limiter.c)
target_include_directories(test_limiter PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_limiter PRIVATE reliefserve)
add_test(NAME limiter COMMAND test_limiter)

add_test(NAME cli COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_cli.sh $<TARGET_FILE:relief> ${CMAKE_SOURCE_DIR} ${RELIEF_TESTDATA})
# Fact extraction against tests/data/extract_cases.jsonl: per-field precision
# and recall, each at least 95 %.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/data/extract_cases.jsonl)
  add_test(NAME extract COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_extract.py $<TARGET_FILE:relief>
           ${CMAKE_SOURCE_DIR}/tests/data/extract_cases.jsonl)
endif()
# Detection quality on the dev sets beside the clone (not part of the repo).
add_test(NAME eval_dev COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_eval_dev.sh $<TARGET_FILE:relief> ${RELIEF_SHARED_EVAL})
set_tests_properties(eval_dev PROPERTIES SKIP_RETURN_CODE 77)
if(RELIEF_SANITIZE)
  set_tests_properties(cli PROPERTIES ENVIRONMENT "RELIEF_NO_VALGRIND=1")
endif()

add_executable(test_llm tests/test_llm.c)
target_link_libraries(test_llm PRIVATE reliefllm)
add_test(NAME llm_oracle COMMAND test_llm ${RELIEF_TESTDATA}/oracle/tiny)

add_executable(test_gguf tests/test_gguf.c)
target_include_directories(test_gguf PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_gguf PRIVATE reliefllm)
add_test(NAME gguf_hostile COMMAND test_gguf ${RELIEF_TESTDATA}/oracle/tiny/tiny-q.gguf)

add_executable(test_tokenizer tests/test_tokenizer.c)
target_include_directories(test_tokenizer PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_tokenizer PRIVATE reliefllm PkgConfig::JANSSON)
add_test(NAME tokenizer COMMAND test_tokenizer ${RELIEF_TESTDATA})

add_test(NAME mkmodel COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_mkmodel.sh $<TARGET_FILE:relief-mkmodel> ${RELIEF_TESTDATA})

add_executable(test_kernels tests/test_kernels.c)
target_include_directories(test_kernels PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_kernels PRIVATE reliefllm)
add_test(NAME kernels COMMAND test_kernels)
add_test(NAME llm_oracle_scalar COMMAND test_llm ${RELIEF_TESTDATA}/oracle/tiny)
set_tests_properties(llm_oracle_scalar PROPERTIES ENVIRONMENT "RELIEF_SCALAR=1")

add_test(NAME llm_cli COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_llm_cli.py $<TARGET_FILE:relief> ${RELIEF_TESTDATA})

add_executable(test_harmony tests/test_harmony.c)
target_include_directories(test_harmony PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_harmony PRIVATE reliefllm PkgConfig::JANSSON)
add_test(NAME harmony COMMAND test_harmony ${RELIEF_TESTDATA})

add_test(NAME ollama_layout COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_ollama.sh $<TARGET_FILE:relief> $<TARGET_FILE:relief-mkmodel> ${RELIEF_TESTDATA}/oracle/tiny/tiny-f32.gguf)

add_executable(test_hybrid tests/test_hybrid.c)
target_link_libraries(test_hybrid PRIVATE reliefhybrid)
target_include_directories(test_hybrid PRIVATE ${CMAKE_SOURCE_DIR}/src)
add_test(NAME hybrid COMMAND test_hybrid ${RELIEF_TESTDATA}/oracle/tiny/tiny-q.gguf)
if(RELIEF_SANITIZE)
  # Deadline slack is asserted in the normal build; under ASan it is reported.
  set_tests_properties(hybrid PROPERTIES ENVIRONMENT "RELIEF_TEST_NO_TIMING=1")
endif()

add_executable(test_remote tests/test_remote.c)
target_include_directories(test_remote PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_remote PRIVATE reliefhybrid PkgConfig::JANSSON pthread)
add_test(NAME remote COMMAND test_remote ${CMAKE_SOURCE_DIR}/tests/mock_openai.py)
set_tests_properties(remote PROPERTIES TIMEOUT 120)

# relief serve: every endpoint over HTTP (plan-only, then with the tiny model
# and a second server using the first as its remote backend), and the web
# page in headless Chromium (skipped when Chromium is missing).
add_test(NAME serve COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_serve.py $<TARGET_FILE:relief> ${RELIEF_TESTDATA})
add_test(NAME browser COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_browser.sh $<TARGET_FILE:relief> ${CMAKE_BINARY_DIR})
set_tests_properties(browser PROPERTIES SKIP_RETURN_CODE 77)
# The page in French (the browser's language and ?lang=), Spanish and
# Portuguese, and the model's progress and Stop with the tiny oracle model.
add_test(NAME browser_lang COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_browser_lang.sh $<TARGET_FILE:relief> ${CMAKE_BINARY_DIR} ${RELIEF_TESTDATA})
set_tests_properties(browser_lang PROPERTIES SKIP_RETURN_CODE 77)
# The official OpenAI Node client (npm "openai", installed into a temporary
# directory) against relief serve with the tiny model: models, chat, a stream
# with usage, an unsupported field; skipped (77) without node, npm or the registry.
add_test(NAME openai_node COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_openai_node.sh $<TARGET_FILE:relief>
         ${CMAKE_SOURCE_DIR} ${RELIEF_TESTDATA}/oracle/tiny/tiny-q.gguf)
set_tests_properties(openai_node PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
if(RELIEF_SANITIZE)
  # Sanitizers slow everything several-fold: latency bounds are reported, not asserted.
  set_tests_properties(serve PROPERTIES ENVIRONMENT "RELIEF_SERVE_NO_TIMING=1")
endif()

add_test(NAME model20b_layout COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_model20b.sh $<TARGET_FILE:relief> $<TARGET_FILE:relief-mkmodel> ${RELIEF_TESTDATA}/oracle/o200k_harmony.vocab.gguf)

# LoRA adapters (PEFT and GGUF forms against the oracle's adapter cases) and
# the safetensors reader on hostile input.
add_executable(test_lora tests/test_lora.c)
target_include_directories(test_lora PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_lora PRIVATE reliefhybrid)
add_test(NAME lora COMMAND test_lora ${RELIEF_TESTDATA}/oracle/tiny)

# Resource bounds on hostile or huge input (10 MB report, 100k-line kb
# files, GGUF counts, context overflow, 1,000 concurrent connections):
# docs/reliability.md.
add_test(NAME limits COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_limits.py $<TARGET_FILE:relief>
         ${CMAKE_SOURCE_DIR} ${RELIEF_TESTDATA})
# RUN_SERIAL: its 10 MB inputs and 1,000 connections would disturb the timed tests beside it.
# Exit 77 (skipped) when a part cannot run here (too few file descriptors).
set_tests_properties(limits PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
if(RELIEF_SANITIZE)
  set_tests_properties(limits PROPERTIES ENVIRONMENT "RELIEF_LIMITS_SANITIZED=1")
endif()

# Timing-sensitive service tests run alone (ctest -j would load the cores
# they measure).
set_tests_properties(serve browser browser_lang hybrid PROPERTIES RUN_SERIAL TRUE)

# Tests never write beside the shared models: the prefix cache goes to the build tree.
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/prefix-cache)
get_property(RELIEF_ALL_TESTS DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY TESTS)
foreach(t IN LISTS RELIEF_ALL_TESTS)
  set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "RELIEF_CACHE_DIR=${CMAKE_BINARY_DIR}/prefix-cache")
endforeach()

# The installed library, headers and relief.pc, used by a program built with
# pkg-config (shared and static). Not in sanitizer builds: a program linked
# against an instrumented library needs the sanitizer runtime itself.
if(NOT RELIEF_SANITIZE AND NOT RELIEF_FUZZ)
  add_test(NAME install COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_install.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(install PROPERTIES SKIP_RETURN_CODE 77)
endif()

# The fast path (8-bit activations, integer dot products) against transformers
# and the exact path, in both precisions, at the CPU's level and scalar. The
# oracle tests above hold the exact path (RELIEF_EXACT=1) to 1e-4 x std.
add_executable(test_fastpath tests/test_fastpath.c)
target_include_directories(test_fastpath PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_fastpath PRIVATE reliefllm)
add_test(NAME llm_fastpath COMMAND test_fastpath ${RELIEF_TESTDATA}/oracle/tiny)
add_test(NAME llm_fastpath_scalar COMMAND test_fastpath ${RELIEF_TESTDATA}/oracle/tiny)
set_tests_properties(llm_fastpath_scalar PROPERTIES ENVIRONMENT "RELIEF_SCALAR=1")
# On a CPU with AMX tiles the default run multiplies batches on them; this
# one holds the VNNI kernels to the same contract there (elsewhere it
# repeats the default run).
add_test(NAME llm_fastpath_noamx COMMAND test_fastpath ${RELIEF_TESTDATA}/oracle/tiny)
set_tests_properties(llm_fastpath_noamx PROPERTIES ENVIRONMENT "RELIEF_NO_AMX=1")
set_tests_properties(llm_cli PROPERTIES ENVIRONMENT "RELIEF_EXACT=1")

# The CLI's model text on a terminal (streams for --budget; Ctrl-C ends the
# model, not relief; a progress line while the prompt is read) and off it
# (the deadline is hard). Uses a pseudo-terminal and the mock server.
add_test(NAME stream_cli COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_stream_cli.py $<TARGET_FILE:relief>
         ${CMAKE_SOURCE_DIR}/tests/mock_openai.py ${RELIEF_TESTDATA}/oracle/tiny/tiny-q.gguf)
set_tests_properties(stream_cli PROPERTIES TIMEOUT 120)
