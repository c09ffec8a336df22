namespace BuildFarm.Worker.Execution;

/// <summary>
/// A minimal static x86-64 ELF executable around position-independent machine code: the header, one read+execute
/// PT_LOAD segment mapping the whole file at <see cref="Base"/>, and the body (code first, its read-only data after),
/// entered at the body's first byte. No sections, no interpreter, no libraries: the kernel maps it and jumps in.
/// </summary>
internal static class StaticElf
{
    private const ulong Base = 0x400000;
    private const int Headers = 64 + 56;

    public static byte[] Build(ReadOnlySpan<byte> body)
    {
        var file = new byte[Headers + body.Length];
        var w = new BinaryWriter(new MemoryStream(file));
        w.Write([0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0]); // ELF64, little-endian, version 1, System V
        w.Write(0UL);
        w.Write((ushort)2);                  // ET_EXEC
        w.Write((ushort)0x3E);               // EM_X86_64
        w.Write(1U);                         // EV_CURRENT
        w.Write(Base + Headers);             // e_entry: the first instruction
        w.Write(64UL);                       // e_phoff
        w.Write(0UL);                        // e_shoff: no sections
        w.Write(0U);                         // e_flags
        w.Write((ushort)64);                 // e_ehsize
        w.Write((ushort)56);                 // e_phentsize
        w.Write((ushort)1);                  // e_phnum
        w.Write((ushort)64);                 // e_shentsize
        w.Write((ushort)0);                  // e_shnum
        w.Write((ushort)0);                  // e_shstrndx
        w.Write(1U);                         // PT_LOAD
        w.Write(5U);                         // PF_R | PF_X
        w.Write(0UL);                        // p_offset
        w.Write(Base);                       // p_vaddr
        w.Write(Base);                       // p_paddr
        w.Write((ulong)file.Length);         // p_filesz
        w.Write((ulong)file.Length);         // p_memsz
        w.Write(0x1000UL);                   // p_align
        w.Write(body);
        w.Flush();
        return file;
    }

    /// <summary>Writes <paramref name="elf"/> to a new file at <paramref name="path"/> with <paramref name="mode"/> (never writable).</summary>
    public static void Write(string path, byte[] elf, UnixFileMode mode)
    {
        using var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode });
        file.Write(elf);
    }
}
