#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char *const USAGE =
    "ptq — post-training quantization of ONNX models\n"
    "\n"
    "usage: ptq <command> [options]\n"
    "\n"
    "commands:\n"
    "  info MODEL                       inputs, outputs, op histogram, parameters, opset\n"
    "  run MODEL --input NAME=X.npy ... --out DIR\n"
    "                                   run the float model, write outputs as DIR/<name>.npy\n"
    "  eval MODEL --data DATA [...]     top-1/top-5 accuracy on an .npy or an image folder\n"
    "  bench MODEL [--threads N] [--batch B]\n"
    "                                   latency and throughput\n"
    "  convert MODEL -o OUT.onnx        load, prepare (fold constants, prune) and save\n"
    "  quantize MODEL -o OUT.onnx --calib DATA\n"
    "                                   W8A8 calibration PTQ, exported as QDQ ONNX\n"
    "\n"
    "'ptq <command> --help' describes each command's options.\n";

/* libgomp reads OMP_WAIT_POLICY once, before main. Its default (spinning) makes every parallel
 * region wait for a descheduled thread when the cores are shared, which costs 10-100x; so the
 * tool re-executes itself once with the passive policy unless the user chose a policy or a
 * spin count (GOMP_SPINCOUNT; measured on MobileNetV2 int8 at 2 threads on a busy 2-core
 * machine: passive 3.7 ms, spin count 1000 4.4 ms, 10000 12.4 ms). */
static void ensure_passive_omp(char **argv) {
  if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv); /* returns only on failure: carry on with the default */
}

int main(int argc, char **argv) {
  ensure_passive_omp(argv);
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(USAGE, argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    puts("ptq 0.1.0");
    return CLI_OK;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
  if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
  if (strcmp(cmd, "quantize") == 0) return cmd_quantize(argc - 1, argv + 1);
  if (strcmp(cmd, "convert") == 0) return cmd_convert(argc - 1, argv + 1);
  fprintf(stderr, "ptq: unknown command '%s'\n\n%s", cmd, USAGE);
  return CLI_USAGE;
}
