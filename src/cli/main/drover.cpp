#include "cli/commands.hpp"

int main(int argc, char** argv) { return drover::cli::run(argc, argv); }
