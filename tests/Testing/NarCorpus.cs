using System.Text;

namespace BuildFarm.Testing;

/// <summary>
/// Generated file system objects covering every NAR shape; each case builds its object at a given path (the NAR
/// tests of the store and the published <c>buildfarm store hash</c>).
/// </summary>
public static class NarCorpus
{
    public static readonly string[] Names =
    [
        "empty-file", "text-file", "odd-length-file", "executable", "empty-executable", "symlink", "dangling-symlink",
        "empty-dir", "deep-dir", "byte-sorting", "non-ascii", "mixed-tree",
    ];

    public static void Create(string name, string path)
    {
        switch (name)
        {
            case "empty-file":
                File.WriteAllBytes(path, []);
                break;
            case "text-file":
                File.WriteAllText(path, "hello, nar\n");
                break;
            case "odd-length-file":
                File.WriteAllBytes(path, Enumerable.Range(0, 4099).Select(i => (byte)(i * 7)).ToArray());
                break;
            case "executable":
                File.WriteAllText(path, "#!/bin/sh\necho hi\n");
                File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
                break;
            case "empty-executable":
                File.WriteAllBytes(path, []);
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserExecute);
                break;
            case "symlink":
                File.CreateSymbolicLink(path, "/etc/hostname");
                break;
            case "dangling-symlink":
                File.CreateSymbolicLink(path, "../does/not/exist-ü");
                break;
            case "empty-dir":
                Directory.CreateDirectory(path);
                break;
            case "deep-dir":
                var deep = path;
                for (var i = 0; i < 40; i++)
                    deep = Path.Combine(deep, "d" + (i % 3));
                Directory.CreateDirectory(deep);
                File.WriteAllText(Path.Combine(deep, "leaf"), "bottom");
                break;
            case "byte-sorting":
                Directory.CreateDirectory(path);
                foreach (var n in new[] { "B", "a", "_", "ä", "é", "a.b", "a-b", "A", "Z", "z", "~", "0", ".hidden", "aa", "a b", "😀", "\uFFFC" })
                    File.WriteAllText(Path.Combine(path, n), n);
                break;
            case "non-ascii":
                Directory.CreateDirectory(Path.Combine(path, "Ωmega", "日本語"));
                File.WriteAllText(Path.Combine(path, "Ωmega", "日本語", "ファイル"), "データ", Encoding.UTF8);
                File.CreateSymbolicLink(Path.Combine(path, "länk"), "Ωmega/日本語");
                break;
            case "mixed-tree":
                Directory.CreateDirectory(Path.Combine(path, "bin"));
                Directory.CreateDirectory(Path.Combine(path, "lib", "empty"));
                File.WriteAllText(Path.Combine(path, "bin", "tool"), "#!/bin/sh\n");
                File.SetUnixFileMode(Path.Combine(path, "bin", "tool"), (UnixFileMode)0b111_101_101);
                File.WriteAllBytes(Path.Combine(path, "lib", "blob"), new byte[70_000]);
                File.CreateSymbolicLink(Path.Combine(path, "lib", "self"), ".");
                File.CreateSymbolicLink(Path.Combine(path, "link-to-dir"), "lib");
                break;
            default:
                throw new ArgumentException($"unknown corpus case {name}", nameof(name));
        }
    }
}
