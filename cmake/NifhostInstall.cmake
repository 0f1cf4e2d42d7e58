# Installs nifhost as a package that find_package(nifhost) finds, with
# namespaced targets (nifhost::core, ...).
include(CMakePackageConfigHelpers)

get_property(_nifhost_targets GLOBAL PROPERTY NIFHOST_INSTALLED_TARGETS)
install(TARGETS ${_nifhost_targets}
  EXPORT nifhostTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT nifhostTargets NAMESPACE nifhost:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/nifhost)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/nifhostConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/nifhostConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/nifhost)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/nifhostConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/nifhostConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/nifhostConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/nifhost)

# The install is proven by building a small consumer project against it.
if(nifhost_BUILD_TESTS AND NOT nifhost_ASAN AND NOT nifhost_TSAN)
  add_test(NAME install_consumer
    COMMAND ${CMAKE_COMMAND}
      -DNIFHOST_BINARY_DIR=${PROJECT_BINARY_DIR}
      -DCONSUMER_SOURCE_DIR=${PROJECT_SOURCE_DIR}/examples/consumer
      -DWORK_DIR=${PROJECT_BINARY_DIR}/install-test
      -P ${PROJECT_SOURCE_DIR}/cmake/TestInstall.cmake)
  set_tests_properties(install_consumer PROPERTIES LABELS "install" TIMEOUT 600)
endif()
