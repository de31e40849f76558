// The operating-system-specific parts of the LLDB front end (see platform.hpp). Linux x86-64 with
// glibc is implemented and tested; other systems get the portable fallbacks (no pthread ids).
#include "platform.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "lldb/API/SBError.h"
#include "lldb/API/SBFrame.h"
#include "lldb/API/SBMemoryRegionInfo.h"
#include "lldb/API/SBMemoryRegionInfoList.h"
#include "lldb/API/SBThread.h"

namespace pyxray::lldb_plugin::platform {

#if defined(__linux__) && defined(__x86_64__)

namespace {

// glibc on x86-64 places each thread's descriptor (struct pthread, whose address is the pthread_t)
// at the thread pointer, and it starts with the tcbhead_t ABI: {tcb = itself, dtv, self = itself}.
// A thread made by pthread_create has its descriptor at the top of its stack mapping; the main
// thread's sits in a small block ld.so allocated at start-up. The descriptor also holds the kernel
// tid, which confirms a candidate (a finished thread's cached descriptor has tid 0).
constexpr uint64_t kDefaultTidOffset = 0x2d0; // offsetof(struct pthread, tid) in glibc 2.x
constexpr uint64_t kMaxTidOffset = 0x1000;
constexpr uint64_t kStackTopScan = 16 * 1024;  // the descriptor is within ~2.5 KiB of the top
constexpr uint64_t kRegionTopScan = 16 * 1024; // the top of each region is searched first
constexpr uint64_t kMaxRegionScan = 1 << 20;   // then regions up to this size, whole
constexpr uint64_t kMaxTotalScan = 32 << 20;
constexpr uint64_t kAlign = 16;

std::vector<uint8_t> readRange(lldb::SBProcess &Process, uint64_t Addr, uint64_t Size) {
  std::vector<uint8_t> Buf(Size);
  lldb::SBError Err;
  size_t N = Process.ReadMemory(Addr, Buf.data(), Buf.size(), Err);
  Buf.resize(N);
  return Buf;
}

uint64_t word(const std::vector<uint8_t> &Buf, uint64_t Off) {
  uint64_t V = 0;
  std::memcpy(&V, Buf.data() + Off, sizeof V);
  return V;
}

int32_t int32At(const std::vector<uint8_t> &Buf, uint64_t Off) {
  int32_t V = 0;
  std::memcpy(&V, Buf.data() + Off, sizeof V);
  return V;
}

bool isDescriptor(const std::vector<uint8_t> &Buf, uint64_t Off, uint64_t Addr) {
  return Off + 24 <= Buf.size() && word(Buf, Off) == Addr && word(Buf, Off + 16) == Addr;
}

bool tidAt(const std::vector<uint8_t> &Buf, uint64_t Off, uint64_t TidOffset, int64_t Tid) {
  return Off + TidOffset + 4 <= Buf.size() && int32At(Buf, Off + TidOffset) == Tid;
}

} // namespace

std::map<int64_t, uint64_t> findPthreadIds(lldb::SBProcess &Process, int64_t Pid, const std::vector<int64_t> &Tids) {
  std::map<int64_t, uint64_t> Out;
  uint64_t TidOffset = kDefaultTidOffset;
  std::vector<std::pair<uint64_t, uint64_t>> Claimed; // stack mappings already attributed

  // 1. Threads made by pthread_create: the descriptor nearest the top of the stack's mapping.
  const uint32_t NumThreads = Process.GetNumThreads();
  for (uint32_t I = 0; I < NumThreads; ++I) {
    lldb::SBThread Thread = Process.GetThreadAtIndex(I);
    const auto Tid = static_cast<int64_t>(Thread.GetThreadID());
    if (Tid == Pid) continue;
    const uint64_t Sp = Thread.GetFrameAtIndex(0).GetSP();
    if (Sp == 0 || Sp == LLDB_INVALID_ADDRESS) continue;
    lldb::SBMemoryRegionInfo Region;
    if (Process.GetMemoryRegionInfo(Sp, Region).Fail() || !Region.IsReadable()) continue;
    const uint64_t End = Region.GetRegionEnd(), Base = Region.GetRegionBase();
    if (End <= Base || End % kAlign) continue;
    const uint64_t Start = std::max(Base, End - std::min(End, kStackTopScan));
    const std::vector<uint8_t> Buf = readRange(Process, Start, End - Start);
    if (Buf.size() < 24) continue;
    for (uint64_t Off = (Buf.size() - 24) / kAlign * kAlign;; Off -= kAlign) {
      const uint64_t Addr = Start + Off;
      if (isDescriptor(Buf, Off, Addr)) {
        if (!tidAt(Buf, Off, TidOffset, Tid)) {
          // Another glibc layout: learn where it keeps the tid from this (certain) descriptor.
          for (uint64_t T = 24; T < kMaxTidOffset; T += 4) {
            if (tidAt(Buf, Off, T, Tid)) {
              TidOffset = T;
              break;
            }
          }
        }
        if (tidAt(Buf, Off, TidOffset, Tid)) {
          Out[Tid] = Addr;
          Claimed.emplace_back(Base, End);
          break;
        }
      }
      if (Off < kAlign) break;
    }
  }

  // 2. The main thread: its descriptor is in a block ld.so mapped at start-up, often merged with
  // anonymous mappings made later (below it). Search the top of every writable region first, then
  // small regions whole, up to a budget.
  if (std::find(Tids.begin(), Tids.end(), Pid) == Tids.end() || Out.contains(Pid)) return Out;
  std::vector<std::pair<uint64_t, uint64_t>> Candidates;
  lldb::SBMemoryRegionInfoList Regions = Process.GetMemoryRegions();
  for (uint32_t I = 0; I < Regions.GetSize(); ++I) {
    lldb::SBMemoryRegionInfo Region;
    if (!Regions.GetMemoryRegionAtIndex(I, Region)) continue;
    if (!Region.IsMapped() || !Region.IsReadable() || !Region.IsWritable()) continue;
    const uint64_t Base = Region.GetRegionBase(), End = Region.GetRegionEnd();
    if (End <= Base) continue;
    if (std::find(Claimed.begin(), Claimed.end(), std::make_pair(Base, End)) != Claimed.end()) continue;
    Candidates.emplace_back(Base, End);
  }
  std::sort(Candidates.begin(), Candidates.end(),
            [](const auto &A, const auto &B) { return A.second - A.first < B.second - B.first; });
  uint64_t Scanned = 0;
  auto Search = [&](uint64_t Start, uint64_t End) {
    if (Scanned + (End - Start) > kMaxTotalScan) return false;
    Scanned += End - Start;
    const std::vector<uint8_t> Buf = readRange(Process, Start, End - Start);
    for (uint64_t Off = (kAlign - Start % kAlign) % kAlign; Off + 24 <= Buf.size(); Off += kAlign) {
      if (isDescriptor(Buf, Off, Start + Off) && tidAt(Buf, Off, TidOffset, Pid)) {
        Out[Pid] = Start + Off;
        return true;
      }
    }
    return false;
  };
  for (const auto &[Base, End] : Candidates) {
    if (Search(End - std::min(End - Base, kRegionTopScan), End)) return Out;
  }
  for (const auto &[Base, End] : Candidates) {
    if (End - Base <= kRegionTopScan || End - Base > kMaxRegionScan) continue;
    if (Search(Base, End - kRegionTopScan)) return Out;
  }
  return Out;
}

#else

// macOS: LLDB's thread id there is the 64-bit id pthread_threadid_np() returns, which is what
// CPython 3.8+ records as native_thread_id, so pthread_t is only needed before 3.8 (unsupported).
std::map<int64_t, uint64_t> findPthreadIds(lldb::SBProcess &, int64_t, const std::vector<int64_t> &) { return {}; }

#endif

bool looksLikeSharedObject(const std::string &Path) {
  const std::string Name = Path.substr(Path.find_last_of('/') + 1);
#if defined(__APPLE__)
  return Name.ends_with(".dylib") || Path.find(".framework/") != std::string::npos;
#else
  return Name.ends_with(".so") || Name.find(".so.") != std::string::npos;
#endif
}

std::vector<std::string> ownMappedFiles() {
  std::vector<std::string> Out;
#if defined(__linux__)
  // "START-END PERMS OFFSET DEV INODE PATH"
  std::ifstream Maps("/proc/self/maps");
  std::set<std::string> Seen;
  std::string Line;
  while (std::getline(Maps, Line)) {
    std::istringstream Words(Line);
    std::string Range, Perms, Offset, Dev, Inode, Path;
    if (!(Words >> Range >> Perms >> Offset >> Dev >> Inode) || Offset.find_first_not_of('0') != std::string::npos)
      continue;
    std::getline(Words, Path);
    Path.erase(0, Path.find_first_not_of(' '));
    if (Path.empty() || Path.front() != '/' || !Seen.insert(Path).second) continue;
    std::error_code Ec; // a mapped device is no file to read
    if (std::filesystem::is_regular_file(Path, Ec)) Out.push_back(Path);
  }
#endif
  return Out;
}

} // namespace pyxray::lldb_plugin::platform
