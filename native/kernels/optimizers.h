// Optimizer steps and gradient utilities, one pass each over a flat buffer of
// n values: torch.optim.SGD, Adam and AdamW (PyTorch 1.13's single-tensor
// formulas), their checked twins (write only a step that stays finite), and
// the sums clip_grad_norm_ needs. Legend: n parameters.
#pragma once
#include <cstddef>

namespace rnnkit {

// torch.optim.SGD. velocity (momentum buffer) is unused and may be null when momentum == 0.
// first_step: the buffer holds nothing yet (PyTorch's "buf is None"), so it starts as the gradient itself.
template <typename Real>
void sgd_step(Real* params /*[n]*/, Real* velocity /*[n]*/, const Real* grads /*[n]*/, size_t n, double lr,
              double momentum, double dampening, bool nesterov, double weight_decay, bool first_step);

// torch.optim.Adam (decoupled = false: weight decay added to the gradient) or AdamW (decoupled = true:
// params scaled by 1 - lr * weight_decay first). step counts this update, from 1; m and v start as zeros.
template <typename Real>
void adam_step(Real* params /*[n]*/, Real* exp_avg /*[n]*/, Real* exp_avg_sq /*[n]*/, const Real* grads /*[n]*/,
               size_t n, double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               double step);

// Checked steps: the same update as sgd_step / adam_step, each gradient first multiplied by grad_scale in Real
// (clip_grad_norm_'s factor, as grads *= factor would; 1 leaves it as is), applied only if it stays finite.
// "Check before applying": a first pass computes every element's new weight and buffer values without
// writing and counts the elements where any of them would be NaN or infinite (a non-finite gradient always
// gives one); only when none would, a second pass computes the same values and writes them. Returns that
// count: 0 means the step was applied, anything else that params and buffers are untouched. The buffers
// must not overlap (each element is computed from the old values of its own slots only).
template <typename Real>
size_t sgd_step_checked(Real* params /*[n]*/, Real* velocity /*[n]*/, const Real* grads /*[n]*/, size_t n,
                        double grad_scale, double lr, double momentum, double dampening, bool nesterov,
                        double weight_decay, bool first_step);

template <typename Real>
size_t adam_step_checked(Real* params /*[n]*/, Real* exp_avg /*[n]*/, Real* exp_avg_sq /*[n]*/,
                         const Real* grads /*[n]*/, size_t n, double grad_scale, double lr, double beta1,
                         double beta2, double eps, double weight_decay, bool decoupled, double step);

// sum of x^2, accumulated in double (the squared global norm).
template <typename Real>
double sum_squares(const Real* x /*[n]*/, size_t n);

// x *= factor (gradient clipping).
template <typename Real>
void scale(Real* x /*[n]*/, size_t n, double factor);

// average += (1 - decay) * (x - average), every operation in Real (an exponential moving average of
// the weights; the order is part of the contract: rnnkit's tests recompute it bit for bit).
template <typename Real>
void moving_average(Real* average /*[n]*/, const Real* x /*[n]*/, size_t n, double decay);

// How many of x are NaN or infinite.
template <typename Real>
size_t count_nonfinite(const Real* x /*[n]*/, size_t n);

}  // namespace rnnkit
