namespace BuildFarm.Worker.Sandbox;

/// <summary>What the filter does with one system call of one architecture.</summary>
internal abstract record SeccompRule(string Name, int Number)
{
    /// <summary>Refused with <paramref name="Errno"/> whatever its arguments.</summary>
    internal sealed record Deny(string Name, int Number, int Errno) : SeccompRule(Name, Number);

    /// <summary>
    /// Refused with EPERM when the mode in argument <paramref name="ModeArg"/> asks for S_ISUID or S_ISGID; allowed
    /// otherwise. Only the low 32 bits are looked at: the kernel takes the mode as a 16-bit umode_t, so the high word
    /// cannot carry a set-id bit past us (and must not let one through either).
    /// </summary>
    internal sealed record DenySetIdMode(string Name, int Number, int ModeArg) : SeccompRule(Name, Number);
}

/// <summary>
/// One architecture's numbers for the calls the filter refuses. Every number comes from the kernel's own tables
/// (Linux 6.13+, checked against the running 6.18 kernel): <c>arch/x86/entry/syscalls/syscall_64.tbl</c>,
/// <c>syscall_32.tbl</c> and <c>include/uapi/asm-generic/unistd.h</c>, which arm64 uses. A number differs per
/// architecture (i386's 90 is <c>mmap</c>, x86_64's is <c>chmod</c>), so each table is used only behind its own
/// <c>seccomp_data.arch</c> check.
/// </summary>
internal sealed record SeccompSyscallTable(uint AuditArch, IReadOnlyList<SeccompRule> Rules)
{
    public const uint AuditArchX86_64 = 0xC000003E;
    public const uint AuditArchI386 = 0x40000003;
    public const uint AuditArchAarch64 = 0xC00000B7;

    public const int Eperm = 1;
    public const int Enosys = 38;
    public const int Enotsup = 95; // EOPNOTSUPP, the same value on x86 and arm64

    public static SeccompSyscallTable X86_64 { get; } = new(AuditArchX86_64,
    [
        new SeccompRule.DenySetIdMode("chmod", 90, ModeArg: 1),
        new SeccompRule.DenySetIdMode("fchmod", 91, ModeArg: 1),
        new SeccompRule.DenySetIdMode("fchmodat", 268, ModeArg: 2),
        new SeccompRule.DenySetIdMode("fchmodat2", 452, ModeArg: 2),
        new SeccompRule.Deny("setxattr", 188, Enotsup),
        new SeccompRule.Deny("lsetxattr", 189, Enotsup),
        new SeccompRule.Deny("fsetxattr", 190, Enotsup),
        new SeccompRule.Deny("setxattrat", 463, Enotsup),
        new SeccompRule.Deny("add_key", 248, Eperm),
        new SeccompRule.Deny("request_key", 249, Eperm),
        new SeccompRule.Deny("keyctl", 250, Eperm),
        new SeccompRule.Deny("bpf", 321, Eperm),
        new SeccompRule.Deny("userfaultfd", 323, Eperm),
        new SeccompRule.Deny("kexec_load", 246, Eperm),
        new SeccompRule.Deny("kexec_file_load", 320, Eperm),
        new SeccompRule.Deny("init_module", 175, Eperm),
        new SeccompRule.Deny("finit_module", 313, Eperm),
        new SeccompRule.Deny("delete_module", 176, Eperm),
        new SeccompRule.Deny("reboot", 169, Eperm),
        new SeccompRule.Deny("swapon", 167, Eperm),
        new SeccompRule.Deny("swapoff", 168, Eperm),
        new SeccompRule.Deny("acct", 163, Eperm),
    ]);

    /// <summary>i386 has no kexec_file_load.</summary>
    public static SeccompSyscallTable I386 { get; } = new(AuditArchI386,
    [
        new SeccompRule.DenySetIdMode("chmod", 15, ModeArg: 1),
        new SeccompRule.DenySetIdMode("fchmod", 94, ModeArg: 1),
        new SeccompRule.DenySetIdMode("fchmodat", 306, ModeArg: 2),
        new SeccompRule.DenySetIdMode("fchmodat2", 452, ModeArg: 2),
        new SeccompRule.Deny("setxattr", 226, Enotsup),
        new SeccompRule.Deny("lsetxattr", 227, Enotsup),
        new SeccompRule.Deny("fsetxattr", 228, Enotsup),
        new SeccompRule.Deny("setxattrat", 463, Enotsup),
        new SeccompRule.Deny("add_key", 286, Eperm),
        new SeccompRule.Deny("request_key", 287, Eperm),
        new SeccompRule.Deny("keyctl", 288, Eperm),
        new SeccompRule.Deny("bpf", 357, Eperm),
        new SeccompRule.Deny("userfaultfd", 374, Eperm),
        new SeccompRule.Deny("kexec_load", 283, Eperm),
        new SeccompRule.Deny("init_module", 128, Eperm),
        new SeccompRule.Deny("finit_module", 350, Eperm),
        new SeccompRule.Deny("delete_module", 129, Eperm),
        new SeccompRule.Deny("reboot", 88, Eperm),
        new SeccompRule.Deny("swapon", 87, Eperm),
        new SeccompRule.Deny("swapoff", 115, Eperm),
        new SeccompRule.Deny("acct", 51, Eperm),
    ]);

    /// <summary>arm64 uses the generic table: no chmod (libc's chmod is fchmodat), no old-style calls.</summary>
    public static SeccompSyscallTable Aarch64 { get; } = new(AuditArchAarch64,
    [
        new SeccompRule.DenySetIdMode("fchmod", 52, ModeArg: 1),
        new SeccompRule.DenySetIdMode("fchmodat", 53, ModeArg: 2),
        new SeccompRule.DenySetIdMode("fchmodat2", 452, ModeArg: 2),
        new SeccompRule.Deny("setxattr", 5, Enotsup),
        new SeccompRule.Deny("lsetxattr", 6, Enotsup),
        new SeccompRule.Deny("fsetxattr", 7, Enotsup),
        new SeccompRule.Deny("setxattrat", 463, Enotsup),
        new SeccompRule.Deny("add_key", 217, Eperm),
        new SeccompRule.Deny("request_key", 218, Eperm),
        new SeccompRule.Deny("keyctl", 219, Eperm),
        new SeccompRule.Deny("bpf", 280, Eperm),
        new SeccompRule.Deny("userfaultfd", 282, Eperm),
        new SeccompRule.Deny("kexec_load", 104, Eperm),
        new SeccompRule.Deny("kexec_file_load", 294, Eperm),
        new SeccompRule.Deny("init_module", 105, Eperm),
        new SeccompRule.Deny("finit_module", 273, Eperm),
        new SeccompRule.Deny("delete_module", 106, Eperm),
        new SeccompRule.Deny("reboot", 142, Eperm),
        new SeccompRule.Deny("swapon", 224, Eperm),
        new SeccompRule.Deny("swapoff", 225, Eperm),
        new SeccompRule.Deny("acct", 89, Eperm),
    ]);
}
