// `tidings`: the officer's and operator's CLI. All logic is in cli/ (cli.cc
// dispatches to the commands).
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  return tidings::node::RunCli(argc, argv, std::cout, std::cerr);
}
