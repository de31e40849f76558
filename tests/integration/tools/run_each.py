# Runs debugger commands one after another from inside gdb or LLDB and prints, for each, whether it
# failed and everything it printed, so that a test can judge every command on its own even after
# failures (gdb -batch goes on after a failing -ex, but LLDB's batch mode stops at the first one).
#
#   gdb:  -x run_each.py -ex "python run_each('COMMANDS.json')"
#   lldb: -o "command script import run_each.py" -o "script run_each.run_each('COMMANDS.json')"
#
# COMMANDS.json: {"setup": COMMAND, "commands": [COMMAND, ...]}. "setup" (optional) is run first and
# must print a JSON object whose "address" replaces {addr} in the commands (an object the test
# names with the right layout, asked about later with a wrong one). For each command, one line:
#
#   @@RESULT {"command": "py-bt", "ok": false, "output": "pyxray: ..."}
#
# "output" is what the command printed, or, for a failure, its error message (LLDB's "error: "
# prefix removed).
import json

try:
    import gdb
except ImportError:
    gdb = None
    import lldb


def _execute(command):
    if gdb is not None:
        try:
            return True, gdb.execute(command, to_string=True)
        except gdb.error as e:
            return False, str(e)
    result = lldb.SBCommandReturnObject()
    lldb.debugger.GetCommandInterpreter().HandleCommand(command, result)
    if result.Succeeded():
        return True, result.GetOutput() or ""
    error = (result.GetError() or "").rstrip("\n")
    if error.startswith("error: "):
        error = error[len("error: "):]
    return False, error


def run_each(path):
    with open(path) as f:
        spec = json.load(f)
    addr = None
    if spec.get("setup"):
        ok, out = _execute(spec["setup"])
        if ok:
            addr = json.loads(out.strip().splitlines()[-1])["address"]
        print("@@SETUP " + json.dumps({"command": spec["setup"], "ok": ok, "output": out}))
    for command in spec["commands"]:
        if "{addr}" in command:
            if addr is None:
                continue
            command = command.replace("{addr}", "%#x" % addr)
        ok, out = _execute(command)
        print("@@RESULT " + json.dumps({"command": command, "ok": ok, "output": out}))
