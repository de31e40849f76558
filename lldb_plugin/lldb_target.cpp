// LLDBTarget: each method is a handful of SB API calls. Symbols and types cannot change while the
// process lives (a new process gets a new LLDBTarget), so their lookups are cached.
#include "lldb_target.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "lldb/API/SBAddress.h"
#include "lldb/API/SBError.h"
#include "lldb/API/SBFileSpec.h"
#include "lldb/API/SBFrame.h"
#include "lldb/API/SBFunction.h"
#include "lldb/API/SBMemoryRegionInfo.h"
#include "lldb/API/SBMemoryRegionInfoList.h"
#include "lldb/API/SBPlatform.h"
#include "lldb/API/SBSection.h"
#include "lldb/API/SBSymbol.h"
#include "lldb/API/SBSymbolContext.h"
#include "lldb/API/SBSymbolContextList.h"
#include "lldb/API/SBThread.h"
#include "lldb/API/SBValue.h"
#include "lldb/API/SBValueList.h"

#include "platform.hpp"
#include "target/field_path.hpp"

namespace pyxray::lldb_plugin {
namespace {

constexpr std::size_t kReadChunk = 4096; // granularity for salvaging the readable part of a read

std::string pathOf(const lldb::SBFileSpec &Spec) {
  if (!Spec.IsValid() || !Spec.GetFilename()) return {};
  const char *Dir = Spec.GetDirectory();
  std::string Path = Dir ? Dir : "";
  if (!Path.empty() && Path.back() != '/') Path += '/';
  return Path + Spec.GetFilename();
}

std::string baseName(const std::string &Path) { return Path.substr(Path.find_last_of('/') + 1); }

// The file a path resolves to on this host (symbolic links followed), or the path itself.
std::string canonicalPath(const std::string &Path) {
  std::error_code Ec;
  std::filesystem::path Canonical = std::filesystem::canonical(Path, Ec);
  return Ec ? Path : Canonical.string();
}

// The direct data members of a type, for field_path_offset.
std::vector<TypeMember<lldb::SBType>> membersOf(const lldb::SBType &Type) {
  std::vector<TypeMember<lldb::SBType>> Out;
  lldb::SBType T = Type; // the SB API is not const-correct
  const uint32_t N = T.GetNumberOfFields();
  for (uint32_t I = 0; I < N; ++I) {
    lldb::SBTypeMember Member = T.GetFieldAtIndex(I);
    if (!Member.IsValid()) continue;
    const char *Name = Member.GetName();
    Out.push_back(
        {Name ? Name : "", static_cast<int64_t>(Member.GetOffsetInBytes()), Member.GetType().GetCanonicalType()});
  }
  return Out;
}

} // namespace

LLDBTarget::LLDBTarget(lldb::SBTarget Target, lldb::SBProcess Process)
    : TheTarget(std::move(Target)), TheProcess(std::move(Process)) {}

bool LLDBTarget::isPostMortemPlugin(const std::string &Name) {
  return Name == "elf-core" || Name == "mach-core" || Name == "minidump" || Name.find("core") != std::string::npos;
}

int LLDBTarget::pid() const {
  if (!TheProcess.IsValid()) return 0;
  const lldb::pid_t Pid = TheProcess.GetProcessID();
  return Pid == LLDB_INVALID_PROCESS_ID ? 0 : static_cast<int>(Pid);
}

bool LLDBTarget::is_live_local() const {
  if (!TheProcess.IsValid()) return false;
  const char *Plugin = TheProcess.GetPluginName();
  if (!Plugin || isPostMortemPlugin(Plugin)) return false;
  switch (TheProcess.GetState()) {
  case lldb::eStateStopped:
  case lldb::eStateRunning:
  case lldb::eStateStepping:
  case lldb::eStateCrashed:
  case lldb::eStateSuspended: break;
  default: return false;
  }
  // The host platform runs processes on this machine; remote-linux, remote-macosx... do not (the
  // core still checks that a direct read agrees with LLDB before trusting it).
  lldb::SBPlatform Platform = TheTarget.GetPlatform();
  const char *Name = Platform.IsValid() ? Platform.GetName() : nullptr;
  return Name && std::string(Name) == "host";
}

std::size_t LLDBTarget::readSome(uint64_t Addr, std::byte *Out, std::size_t Size) {
  lldb::SBError Err;
  std::size_t Done = std::min(TheProcess.ReadMemory(Addr, Out, Size, Err), Size);
  if (Done == Size) return Done;
  // A core holds only the writable mappings: code and read-only data come from the module's file
  // (SBTarget::ReadMemory falls back to the object file's sections).
  lldb::SBAddress At(Addr + Done, TheTarget);
  if (At.IsValid() && At.GetSection().IsValid()) {
    lldb::SBError FileErr;
    Done += std::min(TheTarget.ReadMemory(At, Out + Done, Size - Done, FileErr), Size - Done);
  }
  return Done;
}

std::size_t LLDBTarget::read_memory(uint64_t Addr, std::span<std::byte> Out) {
  if (Out.empty() || !TheProcess.IsValid()) return 0;
  std::size_t Done = readSome(Addr, Out.data(), Out.size());
  // A read that runs into unmapped memory may fail as a whole: salvage the readable prefix.
  while (Done < Out.size()) {
    const uint64_t At = Addr + Done;
    const std::size_t Chunk = std::min<std::size_t>(Out.size() - Done, kReadChunk - At % kReadChunk);
    const std::size_t N = readSome(At, Out.data() + Done, Chunk);
    Done += N;
    if (N < Chunk) break;
  }
  return Done;
}

const std::vector<lldb::SBModule> &LLDBTarget::pythonModules() {
  if (PythonModules) return *PythonModules;
  PythonModules.emplace();
  const uint32_t N = TheTarget.GetNumModules();
  for (uint32_t I = 0; I < N; ++I) {
    lldb::SBModule M = TheTarget.GetModuleAtIndex(I);
    if (baseName(pathOf(M.GetFileSpec())).starts_with("libpython")) PythonModules->push_back(M);
  }
  lldb::SBModule Exe = TheTarget.FindModule(TheTarget.GetExecutable());
  if (Exe.IsValid()) PythonModules->push_back(Exe);
  return *PythonModules;
}

std::optional<uint64_t> LLDBTarget::symbol_address(std::string_view NameView) {
  std::string Name(NameView);
  if (auto It = Symbols.find(Name); It != Symbols.end()) return It->second;
  std::optional<uint64_t> Addr = lookupSymbol(Name);
  Symbols[Name] = Addr;
  return Addr;
}

std::optional<uint64_t> LLDBTarget::lookupSymbol(const std::string &Name) {
  // The symbol tables: defined data and code symbols only (an extension module's undefined
  // reference or a PLT trampoline has the same name). CPython's own definition wins a tie.
  std::optional<uint64_t> Best;
  int BestRank = 3;
  lldb::SBSymbolContextList List = TheTarget.FindSymbols(Name.c_str());
  const auto &Python = pythonModules();
  for (uint32_t I = 0; I < List.GetSize(); ++I) {
    lldb::SBSymbolContext Ctx = List.GetContextAtIndex(I);
    lldb::SBSymbol Sym = Ctx.GetSymbol();
    if (!Sym.IsValid()) continue;
    const lldb::SymbolType Type = Sym.GetType();
    if (Type != lldb::eSymbolTypeData && Type != lldb::eSymbolTypeCode) continue;
    const lldb::addr_t Load = Sym.GetStartAddress().GetLoadAddress(TheTarget);
    if (Load == LLDB_INVALID_ADDRESS || Load == 0) continue;
    const bool InPython = std::find(Python.begin(), Python.end(), Ctx.GetModule()) != Python.end();
    const int Rank = InPython ? 0 : 1;
    if (Rank < BestRank) {
      BestRank = Rank;
      Best = Load;
    }
  }
  if (Best) return Best;
  // Debuginfo: statics such as 2.7's interp_head when the symbol table lacks them.
  lldb::SBValueList Vars = TheTarget.FindGlobalVariables(Name.c_str(), 1);
  if (Vars.GetSize() > 0) {
    lldb::SBValue Var = Vars.GetValueAtIndex(0);
    const lldb::addr_t Load = Var.GetLoadAddress();
    if (Load != LLDB_INVALID_ADDRESS && Load != 0) return Load;
  }
  // Debuginfo functions: static functions such as obmalloc.c's _PyObject_Malloc, which an LTO
  // build's symbol table lacks (gdb finds them through the same debuginfo).
  lldb::SBSymbolContextList Functions = TheTarget.FindFunctions(Name.c_str(), lldb::eFunctionNameTypeFull);
  for (uint32_t I = 0; I < Functions.GetSize(); ++I) {
    // An inlined copy comes back as its caller's function: only the function of that name counts.
    lldb::SBFunction Fn = Functions.GetContextAtIndex(I).GetFunction();
    if (!Fn.IsValid() || !Fn.GetName() || Name != Fn.GetName()) continue;
    const lldb::addr_t Load = Fn.GetStartAddress().GetLoadAddress(TheTarget);
    if (Load != LLDB_INVALID_ADDRESS && Load != 0) return Load;
  }
  return std::nullopt;
}

lldb::SBType LLDBTarget::findType(const std::string &Name) {
  if (auto It = Types.find(Name); It != Types.end()) return It->second;
  // "struct _gil_runtime_state": LLDB finds the tag name; try the bare name first, then as written.
  std::vector<std::string> Spellings;
  for (const char *Tag : {"struct ", "union "}) {
    if (Name.starts_with(Tag)) Spellings.push_back(Name.substr(std::strlen(Tag)));
  }
  Spellings.push_back(Name);
  lldb::SBType Found;
  for (const auto &Spelling : Spellings) {
    for (lldb::SBModule M : pythonModules()) {
      lldb::SBType T = M.FindFirstType(Spelling.c_str());
      if (T.IsValid()) {
        Found = T;
        break;
      }
    }
    if (Found.IsValid()) break;
  }
  if (!Found.IsValid()) {
    // Not in libpython or the executable: an embedding host's other modules, if they have it.
    for (const auto &Spelling : Spellings) {
      lldb::SBType T = TheTarget.FindFirstType(Spelling.c_str());
      if (T.IsValid()) {
        Found = T;
        break;
      }
    }
  }
  Types[Name] = Found;
  return Found;
}

std::optional<int64_t> LLDBTarget::type_offset(std::string_view Type, std::string_view Field) {
  std::string Key = std::string(Type) + ":" + std::string(Field);
  if (auto It = Offsets.find(Key); It != Offsets.end()) return It->second;
  std::optional<int64_t> Result = lookupOffset(std::string(Type), std::string(Field));
  Offsets[Key] = Result;
  return Result;
}

std::optional<int64_t> LLDBTarget::lookupOffset(const std::string &TypeName, const std::string &Field) {
  lldb::SBType Type = findType(TypeName);
  if (!Type.IsValid()) return std::nullopt;
  Type = Type.GetCanonicalType();
  if (Field.empty()) {
    const uint64_t Size = Type.GetByteSize(); // 0 for a declaration without a definition
    return Size ? std::optional<int64_t>(static_cast<int64_t>(Size)) : std::nullopt;
  }
  return field_path_offset(Type, Field, membersOf);
}

std::vector<NativeThread> LLDBTarget::threads() {
  std::vector<NativeThread> Out;
  if (!TheProcess.IsValid()) return Out;
  std::vector<int64_t> Tids;
  const uint32_t N = TheProcess.GetNumThreads();
  for (uint32_t I = 0; I < N; ++I) {
    lldb::SBThread Thread = TheProcess.GetThreadAtIndex(I);
    if (!Thread.IsValid()) continue;
    NativeThread T;
    T.tid = static_cast<int64_t>(Thread.GetThreadID());
    if (const char *Name = Thread.GetName()) T.name = Name;
    Tids.push_back(T.tid);
    Out.push_back(std::move(T));
  }
  const uint32_t StopId = TheProcess.GetStopID();
  if (!PthreadIds || StopId != PthreadStopId) {
    PthreadIds = platform::findPthreadIds(TheProcess, pid(), Tids);
    PthreadStopId = StopId;
  }
  for (auto &T : Out) {
    if (auto It = PthreadIds->find(T.tid); It != PthreadIds->end()) T.pthread_id = It->second;
  }
  return Out;
}

std::optional<int64_t> LLDBTarget::selected_thread() {
  if (!TheProcess.IsValid()) return std::nullopt;
  lldb::SBThread Thread = TheProcess.GetSelectedThread();
  if (!Thread.IsValid()) return std::nullopt;
  return static_cast<int64_t>(Thread.GetThreadID());
}

std::optional<std::vector<NativeFrame>> LLDBTarget::native_frames(int64_t Tid, std::size_t MaxFrames) {
  // SBThread::GetFrameAtIndex unwinds without selecting anything: the user's thread and frame stay.
  if (!TheProcess.IsValid()) return std::nullopt;
  lldb::SBThread Thread = TheProcess.GetThreadByID(static_cast<lldb::tid_t>(Tid));
  if (!Thread.IsValid()) return std::nullopt;
  std::vector<NativeFrame> Out;
  bool InInlineChain = false; // the previous frame was inlined into this one
  for (uint32_t I = 0; I < MaxFrames; ++I) {
    lldb::SBFrame Frame = Thread.GetFrameAtIndex(I);
    if (!Frame.IsValid()) break;
    NativeFrame F;
    // LLDB gives the function an inlined call sits in the address of the inlined block; report the
    // machine's pc for every frame of an inline chain, as gdb does.
    F.pc = InInlineChain && !Out.empty() ? Out.back().pc : Frame.GetPC();
    InInlineChain = Frame.IsInlined();
    if (const char *Name = Frame.GetFunctionName()) F.function = Name; // inlined frames too
    F.library = pathOf(Frame.GetModule().GetFileSpec());
    Out.push_back(std::move(F));
  }
  return Out;
}

std::optional<BlockedSyscall> LLDBTarget::blocked_syscall(int64_t Tid) {
#if defined(__x86_64__)
  // The registers the kernel saved at its entry: orig_rax is the call's number (-1 for an interrupt),
  // the arguments are in rdi, rsi, rdx, r10, r8, r9. LLDB's Linux x86-64 register context has
  // orig_rax for a live process and for a core (from NT_PRSTATUS) alike. Reading a thread's frame 0
  // selects nothing.
  static constexpr const char *ArgRegisters[] = {"rdi", "rsi", "rdx", "r10", "r8", "r9"};
  if (!TheProcess.IsValid()) return std::nullopt;
  const char *Triple = TheTarget.GetTriple();
  if (!Triple || std::string(Triple).rfind("x86_64", 0) != 0) return std::nullopt;
  lldb::SBThread Thread = TheProcess.GetThreadByID(static_cast<lldb::tid_t>(Tid));
  if (!Thread.IsValid()) return std::nullopt;
  lldb::SBFrame Frame = Thread.GetFrameAtIndex(0);
  if (!Frame.IsValid()) return std::nullopt;
  const auto Read = [&Frame](const char *Name) -> std::optional<uint64_t> {
    lldb::SBValue Value = Frame.FindRegister(Name);
    if (!Value.IsValid()) return std::nullopt;
    lldb::SBError Error;
    const uint64_t Bits = Value.GetValueAsUnsigned(Error, 0);
    if (Error.Fail()) return std::nullopt;
    return Bits;
  };
  auto Number = Read("orig_rax");
  if (!Number) {
    // LLDB 16 shows no orig_rax, not even for a core: read the core's own notes instead. (For a live
    // process the core asks /proc before it asks us.)
    const CoreFile *Core = coreFile();
    if (!Core) return std::nullopt;
    auto It = Core->Notes.by_tid.find(Tid);
    return It == Core->Notes.by_tid.end() ? std::nullopt : It->second;
  }
  if (static_cast<int64_t>(*Number) < 0) return std::nullopt;
  BlockedSyscall Call;
  Call.number = static_cast<int64_t>(*Number);
  for (std::size_t I = 0; I < Call.args.size(); ++I) {
    auto Arg = Read(ArgRegisters[I]);
    if (!Arg) return std::nullopt;
    Call.args[I] = *Arg;
  }
  return Call;
#else
  return std::nullopt;
#endif
}

const LLDBTarget::CoreFile *LLDBTarget::coreFile() {
  if (!TheCoreFile) {
    TheCoreFile.emplace();
    const char *Plugin = TheProcess.GetPluginName();
    if (Plugin && isPostMortemPlugin(Plugin)) {
      // LLDB's SB API does not name the core file. Of the files LLDB maps, it is the ELF core of
      // this process: the one whose threads include the process's own id (another target's core
      // names other threads).
      const int64_t Pid = pid();
      for (const std::string &Path : platform::ownMappedFiles()) {
        auto Notes = read_core_notes(Path);
        if (Notes && (Notes->pid == Pid || Notes->by_tid.count(Pid))) {
          *TheCoreFile = CoreFile{Path, std::move(*Notes)};
          break;
        }
      }
    }
  }
  return *TheCoreFile ? &**TheCoreFile : nullptr;
}

std::optional<std::string> LLDBTarget::core_file() {
  const CoreFile *Core = coreFile();
  return Core ? std::optional<std::string>(Core->Path) : std::nullopt;
}

std::vector<LoadedObject> LLDBTarget::loaded_objects() {
  std::vector<LoadedObject> Out;
  const uint32_t N = TheTarget.GetNumModules();
  for (uint32_t I = 0; I < N; ++I) {
    lldb::SBModule M = TheTarget.GetModuleAtIndex(I);
    LoadedObject Obj;
    Obj.path = pathOf(M.GetFileSpec());
    if (Obj.path.empty()) continue;
    if (const char *Uuid = M.GetUUIDString(); Uuid && *Uuid) Obj.build_id = Uuid; // "93AC61EC-5A8E-..."
    lldb::SBAddress Header = M.GetObjectFileHeaderAddress();
    if (Header.IsValid()) {
      const lldb::addr_t Load = Header.GetLoadAddress(TheTarget);
      if (Load != LLDB_INVALID_ADDRESS) Obj.base = Load;
    }
    Out.push_back(std::move(Obj));
  }
  return Out;
}

std::vector<std::string> LLDBTarget::missing_objects() {
  // Shared objects mapped in the process (a core's file notes, a live process's maps) that LLDB
  // holds no module for.
  std::vector<std::string> Out;
  if (!TheProcess.IsValid()) return Out;
  std::set<std::string> Known;
  const uint32_t N = TheTarget.GetNumModules();
  for (uint32_t I = 0; I < N; ++I) {
    lldb::SBModule M = TheTarget.GetModuleAtIndex(I);
    for (const std::string &Path : {pathOf(M.GetFileSpec()), pathOf(M.GetPlatformFileSpec())}) {
      if (Path.empty()) continue;
      Known.insert(baseName(Path));
      Known.insert(baseName(canonicalPath(Path))); // libz.so.1 is mapped as libz.so.1.2.13
    }
  }
  lldb::SBMemoryRegionInfoList Regions = TheProcess.GetMemoryRegions();
  std::set<std::string> Seen;
  for (uint32_t I = 0; I < Regions.GetSize(); ++I) {
    lldb::SBMemoryRegionInfo Region;
    if (!Regions.GetMemoryRegionAtIndex(I, Region)) continue;
    const char *Name = Region.GetName();
    if (!Name || Name[0] != '/') continue;
    const std::string Path = Name;
    if (!platform::looksLikeSharedObject(Path) || Known.contains(baseName(Path)) ||
        Known.contains(baseName(canonicalPath(Path))))
      continue;
    if (Seen.insert(Path).second) Out.push_back(Path);
  }
  return Out;
}

} // namespace pyxray::lldb_plugin
