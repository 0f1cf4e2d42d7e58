# One place that says how a nifhost library, executable, test or NIF suite is built.

set(NIFHOST_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual -Wconversion
    -Wsign-conversion -Wnull-dereference -Wdouble-promotion -Wformat=2
    -Wimplicit-fallthrough)
set(NIFHOST_C_WARNINGS -Wall -Wextra -Wformat=2)

set(NIFHOST_SANITIZER_FLAGS "")
if(nifhost_ASAN)
  set(NIFHOST_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
      -fno-sanitize-recover=undefined)
elseif(nifhost_TSAN)
  set(NIFHOST_SANITIZER_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
endif()
if(NIFHOST_SANITIZER_FLAGS)
  add_compile_options(${NIFHOST_SANITIZER_FLAGS})
  add_link_options(${NIFHOST_SANITIZER_FLAGS})
endif()

function(_nifhost_target_options target)
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    return()
  endif()
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${NIFHOST_WARNINGS}>
    $<$<COMPILE_LANGUAGE:C>:${NIFHOST_C_WARNINGS}>)
  if(nifhost_WARNINGS_AS_ERRORS)
    # GCC 12's flow-based warnings report false positives inside the standard
    # library at -O2, more so under sanitizers (GCC bugs 105651, 106199, and
    # maybe-uninitialized in <regex>'s std::function under ASan): kept as
    # warnings.
    target_compile_options(${target} PRIVATE -Werror
      $<$<CXX_COMPILER_ID:GNU>:-Wno-error=array-bounds -Wno-error=stringop-overflow
        -Wno-error=restrict -Wno-error=maybe-uninitialized -Wno-error=null-dereference>)
  endif()
endfunction()

# nifhost_add_library(NAME [SHARED|STATIC] SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
# Creates nifhost_NAME with alias nifhost::NAME; public headers under include/.
function(nifhost_add_library name)
  cmake_parse_arguments(ARG "SHARED;STATIC;NO_INSTALL" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(kind STATIC)
  if(ARG_SHARED)
    set(kind SHARED)
  endif()
  add_library(nifhost_${name} ${kind} ${ARG_SOURCES})
  add_library(nifhost::${name} ALIAS nifhost_${name})
  set_target_properties(nifhost_${name} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME nifhost_${name})
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_include_directories(nifhost_${name} PUBLIC
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    if(NOT ARG_NO_INSTALL)
      install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
    endif()
  endif()
  target_include_directories(nifhost_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(nifhost_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  _nifhost_target_options(nifhost_${name})
  if(NOT ARG_NO_INSTALL)
    set_property(GLOBAL APPEND PROPERTY NIFHOST_INSTALLED_TARGETS nifhost_${name})
  endif()
endfunction()

# nifhost_add_executable(NAME SOURCES ... [DEPS ...])
function(nifhost_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  _nifhost_target_options(${name})
endfunction()

# nifhost_add_test(NAME SOURCES ... [DEPS ...] [LABELS ...] [TIMEOUT s])
# A GoogleTest (+ RapidCheck) executable registered with CTest.
function(nifhost_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main rapidcheck)
  target_include_directories(${name} PRIVATE /usr/include/rapidcheck/extras/gtest/include)
  _nifhost_target_options(${name})
  # RapidCheck and GoogleTest macros trip a few of our stricter warnings.
  target_compile_options(${name} PRIVATE -Wno-sign-conversion -Wno-conversion -Wno-old-style-cast
                         -Wno-shadow -Wno-null-dereference)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}"
    ENVIRONMENT "NIFHOST_SOURCE_DIR=${PROJECT_SOURCE_DIR};NIFHOST_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# nifhost_add_nif(NAME SOURCES ...)
# An unmodified-style NIF library: a MODULE built against OTP's erl_nif.h that
# leaves the enif_* symbols undefined, exactly like a NIF built for the BEAM.
# Output: ${PROJECT_BINARY_DIR}/nifs/NAME.so
function(nifhost_add_nif name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_library(nif_${name} MODULE ${ARG_SOURCES})
  set_target_properties(nif_${name} PROPERTIES PREFIX "" OUTPUT_NAME ${name}
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/nifs C_VISIBILITY_PRESET hidden)
  target_include_directories(nif_${name} PRIVATE ${NIFHOST_ERL_NIF_INCLUDE_DIR})
  target_compile_options(nif_${name} PRIVATE ${NIFHOST_C_WARNINGS})
  set_property(GLOBAL APPEND PROPERTY NIFHOST_NIF_TARGETS nif_${name})
endfunction()

# nifhost_add_bench(NAME SOURCES ... [DEPS ...])
# A Google Benchmark executable nifhost_bench_NAME (the suite provides main(),
# e.g. BENCHMARK_MAIN(), or its own to set up references measured in the same run).
function(nifhost_add_bench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(nifhost_bench_${name} ${ARG_SOURCES})
  target_link_libraries(nifhost_bench_${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
  _nifhost_target_options(nifhost_bench_${name})
endfunction()
