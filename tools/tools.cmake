# Data tools beyond the build's own (tools/embed.c is in CMakeLists.txt).

# relief-mkmodel: gpt-oss-shaped GGUF files with seeded random weights
# (speed measurements, loader tests); reads vocabularies with src/llm/gguf.
add_executable(relief-mkmodel tools/mkmodel.c)
target_include_directories(relief-mkmodel PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(relief-mkmodel PRIVATE reliefllm)

# relief-mklora: a PEFT-form LoRA adapter (adapter_config.json +
# adapter_model.safetensors) with seeded random weights on every attention
# projection, shaped for a given model (adapter speed measurements).
add_executable(relief-mklora tools/mklora.c)
target_link_libraries(relief-mklora PRIVATE reliefllm)
