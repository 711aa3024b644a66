using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Moto;

/// <summary>
/// <see cref="AwsIoTOptions.ThingTypeName"/> raises the attribute limit from 3 to 50, which AWS allows only for a thing
/// created with that type: the provider must send <c>thingTypeName</c> in CreateThing. moto stores the type of a thing
/// (and refuses an unknown one), so the thing it holds shows what the request carried.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class MotoThingTypeTests(MotoServer moto) : IAsyncLifetime
{
    private const string ThingType = "iotm-sensor";

    public Task InitializeAsync() => moto.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>CreateThingType: POST /thing-types/{thingTypeName}. Test set-up only; the provider expects the type to exist.</summary>
    private async Task CreateThingTypeAsync(string name)
    {
        using var http = new HttpClient();
        var client = new AwsHttpClient(http, moto.Endpoint, "us-east-1", "iot", _ => ValueTask.FromResult(MotoServer.Credentials.GetCredentials()),
            IoTTransportOptions.DefaultRetry with { MaxRetries = 0 }, TimeProvider.System, NullLogger.Instance);
        await client.SendAsync(new AwsRequest(HttpMethod.Post, $"/thing-types/{name}", "CreateThingType")
        {
            Body = AwsRequest.Json(new JsonObject { ["thingTypeProperties"] = new JsonObject { ["thingTypeDescription"] = "IoTMastery test type" } }),
            ContentType = "application/json",
        }, default);
    }

    [Fact]
    public async Task A_device_registered_with_a_thing_type_is_a_thing_of_that_type_and_may_carry_more_than_three_attributes()
    {
        await CreateThingTypeAsync(ThingType);
        await using var provider = await AwsIoTProvider.StartAsync(moto.Options(o => o.ThingTypeName = ThingType));
        var attributes = Enumerable.Range(1, 5).ToDictionary(i => $"a{i}", i => $"v{i}");

        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "typed-1", Attributes = attributes });

        var thing = await provider.ControlPlane.DescribeThingAsync("typed-1", default);
        Assert.Equal(ThingType, (string?)thing["thingTypeName"]);
        Assert.Equal(attributes, (await provider.Registry.GetAsync("typed-1")).Attributes);
    }

    [Fact]
    public async Task A_thing_type_that_does_not_exist_is_a_typed_error_and_no_thing_is_created()
    {
        await using var provider = await AwsIoTProvider.StartAsync(moto.Options(o => o.ThingTypeName = "iotm-missing-type"));

        var error = await Assert.ThrowsAnyAsync<IoTException>(() => provider.Registry.RegisterAsync(new DeviceRegistration { Id = "typed-2" }));

        Assert.Equal("ResourceNotFoundException", error.ErrorCode);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => provider.Registry.GetAsync("typed-2"));
    }

    [Fact]
    public async Task Without_a_thing_type_the_thing_is_untyped_and_a_fourth_attribute_is_refused_before_sending()
    {
        await using var provider = await AwsIoTProvider.StartAsync(moto.Options());
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "plain-1", Attributes = new Dictionary<string, string> { ["a"] = "1" } });
        Assert.Null((string?)(await provider.ControlPlane.DescribeThingAsync("plain-1", default))["thingTypeName"]);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => provider.Registry.RegisterAsync(new DeviceRegistration
        {
            Id = "plain-2",
            Attributes = Enumerable.Range(1, 4).ToDictionary(i => $"a{i}", i => "v"),
        }));
        Assert.Contains("at most 3 attributes", error.Message, StringComparison.Ordinal);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => provider.Registry.GetAsync("plain-2"));
    }
}
