using System.Text.Json;
using System.Text.Json.Serialization;

namespace BuildFarm.Hook.Farm;

/// <summary>
/// The hook's JSON shapes, serialized by source-generated code (web defaults: camelCase, case-insensitive), so the
/// hook needs no reflection: the NativeAOT <c>buildfarm-hook</c> executable runs the same code as
/// <c>buildfarm nix-hook</c>.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(HookDecideRequest))]
[JsonSerializable(typeof(HookDecideResponse))]
[JsonSerializable(typeof(HookBuildRequest))]
[JsonSerializable(typeof(HookBuildEvent))]
internal sealed partial class HookJsonContext : JsonSerializerContext;
