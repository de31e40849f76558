#include "base/interrupt.hpp"

#include <csignal>

namespace pyxray {
namespace {

std::atomic<int> g_signal{0};
std::atomic<std::atomic<bool>*> g_forward{nullptr};
// Only the debugger's command thread opens and closes scopes; the counter needs no lock.
int g_depth = 0;
struct sigaction g_previous_int {
}, g_previous_term{};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<std::atomic<bool>*>::is_always_lock_free,
              "used from a signal handler");

extern "C" void on_command_signal(int sig) {
  int expected = 0;
  // SIGTERM wins: it must reach the debugger again afterwards, a Ctrl-C need not.
  if (!g_signal.compare_exchange_strong(expected, sig) && sig == SIGTERM) g_signal.store(SIGTERM);
  if (std::atomic<bool>* stop = g_forward.load()) stop->store(true);
}

}  // namespace

CommandInterrupts::CommandInterrupts() {
  if (g_depth++ > 0) return;
  outermost_ = true;
  g_signal.store(0);
  struct sigaction ours {};
  ours.sa_handler = on_command_signal;
  sigemptyset(&ours.sa_mask);
  ours.sa_flags = SA_RESTART;
  sigaction(SIGINT, &ours, &g_previous_int);
  sigaction(SIGTERM, &ours, &g_previous_term);
}

CommandInterrupts::~CommandInterrupts() {
  --g_depth;
  if (!outermost_) return;
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
}

InterruptForward::InterruptForward(std::atomic<bool>& stop) : previous_(g_forward.exchange(&stop)) {
  if (g_signal.load() != 0) stop.store(true);
}

InterruptForward::~InterruptForward() { g_forward.store(previous_); }

bool interrupt_requested() { return g_signal.load(std::memory_order_relaxed) != 0; }

int interrupt_signal() { return g_signal.load(); }

void note_interrupt(int signal) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signal);
  if (std::atomic<bool>* stop = g_forward.load()) stop->store(true);
}

std::string interrupt_phrase() {
  return interrupt_signal() == SIGTERM ? "cut short by SIGTERM" : "interrupted (Ctrl-C)";
}

}  // namespace pyxray
