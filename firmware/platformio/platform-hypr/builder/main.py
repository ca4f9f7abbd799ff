"""SCons build for hypr-edge firmware with the system arm-none-eabi toolchain (found on PATH, no PlatformIO
package). CPU flags come from the board's build.hypr_cpu_flags (boards/*.json written by hypr-edge)."""
from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
prefix = "arm-none-eabi-"
env.Replace(AR=prefix + "gcc-ar", AS=prefix + "gcc", CC=prefix + "gcc", CXX=prefix + "g++", LINK=prefix + "gcc",
            OBJCOPY=prefix + "objcopy", RANLIB=prefix + "gcc-ranlib", SIZETOOL=prefix + "size", ARFLAGS=["rc"],
            PROGNAME="firmware", PROGSUFFIX=".elf",
            SIZEPROGREGEXP=r"^(?:\.text|\.data|\.ARM\.exidx)\s+(\d+).*",
            SIZEDATAREGEXP=r"^(?:\.data|\.bss)\s+(\d+).*",
            SIZECHECKCMD="$SIZETOOL -A -d $SOURCES", SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES")
cpu = ["-mthumb", *board.get("build.hypr_cpu_flags", "-mcpu=%s" % board.get("build.cpu")).split()]
env.Append(CCFLAGS=cpu + ["-ffunction-sections", "-fdata-sections"], ASFLAGS=cpu,
           LINKFLAGS=cpu + ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections"])
env.Append(BUILDERS=dict(ElfToBin=Builder(action=env.VerboseAction(
    "$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"), suffix=".bin")))

elf = env.BuildProgram()
binary = env.ElfToBin("$BUILD_DIR/${PROGNAME}", elf)
AlwaysBuild(env.Alias("size", elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE")))
Default([binary])
