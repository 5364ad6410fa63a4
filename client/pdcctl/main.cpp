// pdcctl: command-line control of pdcd (docs/pdcctl.md).
#include <iostream>

#include "cli.hpp"

int main(int argc, char** argv) {
  return pdc::ctl::run(argc, argv, std::cout, std::cerr);
}
