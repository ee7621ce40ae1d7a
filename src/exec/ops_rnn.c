/* LSTM (forward, reverse, bidirectional). */
#include "exec/op.h"
#include "kernels/kernels.h"

const op_def op_defs_rnn[] = {{NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
