using System.Globalization;
using BuildFarm.Store.Signing;

namespace BuildFarm.Scale;

/// <summary>The load generator's worker keys: one Ed25519 pair per worker name, all trusted by the dispatcher.</summary>
internal static class Keys
{
    public static string WorkerName(int index) => string.Create(CultureInfo.InvariantCulture, $"w{index + 1:000}");

    public static int Write(string dir, int count)
    {
        Directory.CreateDirectory(dir);
        using var trusted = new StreamWriter(Path.Combine(dir, "trusted-workers.pub"));
        for (var i = 0; i < count; i++)
        {
            var name = WorkerName(i);
            var key = SigningKey.Generate(name + "-1");
            var file = Path.Combine(dir, name + ".sec");
            File.WriteAllText(file, key.ToString());
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            trusted.WriteLine(key.PublicKey.ToString());
        }

        return 0;
    }

    public static SigningKey Read(string dir, string worker) => SecretKeyFile.Read(Path.Combine(dir, worker + ".sec"));
}
