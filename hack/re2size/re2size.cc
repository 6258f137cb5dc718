// Command re2size prints RE2's ProgramSize for each pattern read from stdin, one per line,
// as "<size>\t<pattern>" (size -1 when RE2 refuses the pattern), with
// the options Envoy compiles safe_regex with (RE2::Quiet).
#include <re2/re2.h>
#include <iostream>
#include <string>
int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    RE2 re(line, RE2::Quiet);
    std::cout << (re.ok() ? re.ProgramSize() : -1) << "\t" << line << "\n";
  }
}
