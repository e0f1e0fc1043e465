// `preheat replay`: the replay harness as a subcommand of the preheat tool.
#ifndef PREHEAT_NATIVE_TOOLS_REPLAY_COMMAND_H_
#define PREHEAT_NATIVE_TOOLS_REPLAY_COMMAND_H_

// argv[0] is "replay"; the options follow. Returns the exit status: 0, or 2
// for bad usage, unreadable files or a --write-trace file that cannot be
// written (the caller checks stdout: 7 when it cannot be written).
int ReplayMain(int argc, char** argv);

#endif  // PREHEAT_NATIVE_TOOLS_REPLAY_COMMAND_H_
