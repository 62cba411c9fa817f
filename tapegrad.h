/* tapegrad.h - the umbrella header: everything tapegrad exports.
 * Layers depend one way: models -> autograd -> tensor. */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "tensor/tensor.h"
#include "tensor/random.h"
#include "tensor/npy.h"
#include "tensor/npz.h"
#include "tensor/safetensors.h"
#include "autograd/tape.h"
#include "autograd/plan.h"
#include "autograd/nn_ops.h"
#include "models/nn.h"
#include "models/loss.h"
#include "models/cnn.h"
#include "models/module.h"
#include "models/gpt.h"
#include "models/optim.h"
#include "models/schedule.h"
#include "models/clip.h"
#include "models/data.h"
#include "models/checkpoint.h"
#include "models/batch.h"
#include "models/dist.h"
#include "models/init.h"
#include "models/scope.h"

#endif /* TAPEGRAD_H */
