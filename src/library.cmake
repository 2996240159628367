# library.cmake - the public library other programs build on: the guidance
# engine, the inference engine and the hybrid responder (include/relief/*.h)
# as one librelief, shared (librelief.so.0, SONAME from the major version)
# and static (librelief.a), with a relocatable relief.pc. Only the relief_*
# functions of the public headers are exported (src/relief.map).
set(RELIEF_PARTS reliefhybrid reliefllm reliefguide reliefutil)

if(NOT RELIEF_FUZZ)
  add_library(relief_shared SHARED src/util/version.c)
  target_include_directories(relief_shared PRIVATE ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(relief_shared PRIVATE -Wl,--whole-archive ${RELIEF_PARTS} -Wl,--no-whole-archive)
  target_link_options(relief_shared PRIVATE -Wl,--version-script=${CMAKE_SOURCE_DIR}/src/relief.map)
  if(NOT RELIEF_SANITIZE)
    target_link_options(relief_shared PRIVATE -Wl,--no-undefined)
  endif()
  set_target_properties(relief_shared PROPERTIES OUTPUT_NAME relief VERSION ${PROJECT_VERSION}
                        SOVERSION ${PROJECT_VERSION_MAJOR} LINK_DEPENDS ${CMAKE_SOURCE_DIR}/src/relief.map)

  # librelief.a: the parts' archives merged into one (ar's MRI script).
  set(RELIEF_AR_SCRIPT "create ${CMAKE_BINARY_DIR}/librelief.a\n")
  foreach(part ${RELIEF_PARTS})
    string(APPEND RELIEF_AR_SCRIPT "addlib $<TARGET_FILE:${part}>\n")
  endforeach()
  string(APPEND RELIEF_AR_SCRIPT "addmod $<TARGET_OBJECTS:relief_version_obj>\nsave\nend\n")
  add_library(relief_version_obj OBJECT src/util/version.c)
  target_include_directories(relief_version_obj PRIVATE ${CMAKE_SOURCE_DIR}/include)
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/librelief.mri CONTENT "${RELIEF_AR_SCRIPT}")
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/librelief.a
    COMMAND ${CMAKE_COMMAND} -E rm -f ${CMAKE_BINARY_DIR}/librelief.a
    COMMAND ${CMAKE_AR} -M < ${CMAKE_BINARY_DIR}/librelief.mri
    DEPENDS ${RELIEF_PARTS} relief_version_obj ${CMAKE_BINARY_DIR}/librelief.mri
    COMMENT "Merging the static librelief.a")
  add_custom_target(relief_static ALL DEPENDS ${CMAKE_BINARY_DIR}/librelief.a)

  # relief.pc: prefix found from the .pc file's own place, so that
  # `cmake --install --prefix DIR` (make install PREFIX=DIR) needs no reconfigure.
  file(RELATIVE_PATH RELIEF_PC_UP "/r/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/r")
  configure_file(${CMAKE_SOURCE_DIR}/relief.pc.in ${CMAKE_BINARY_DIR}/relief.pc @ONLY)
  install(TARGETS relief_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${CMAKE_BINARY_DIR}/librelief.a DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${CMAKE_BINARY_DIR}/relief.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
