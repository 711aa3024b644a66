using IoTMastery.Sdk.TestSupport;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>The same mistake raises the same exception type on every provider.</summary>
public abstract class ErrorsContract<TFixture>(TFixture fixture) : ContractBase<TFixture>(fixture)
    where TFixture : ProviderFixture
{
    [Fact]
    public async Task An_unknown_device_is_DeviceNotFound_on_every_service()
    {
        var id = ProviderFixture.NewDeviceId("missing");

        Assert.Equal(id, (await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.Registry.GetAsync(id, Ct))).DeviceId);
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.Registry.DeleteAsync(id, Ct));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.Registry.DisableAsync(id, Ct));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.Registry.UpdateAsync(id, new Dictionary<string, string?> { ["a"] = "b" }, cancellationToken: Ct));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.State.GetAsync(id, Ct));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.State.UpdateDesiredAsync(id, new JsonObject { ["a"] = 1 }, cancellationToken: Ct));
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => Provider.Commands.InvokeAsync(id, new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(5) }, Ct));
    }

    [Fact]
    public async Task Registering_an_existing_id_is_ResourceAlreadyExists_and_keeps_the_first()
    {
        var id = ProviderFixture.NewDeviceId();
        await RegisterAsync(id, new Dictionary<string, string> { ["first"] = "yes" }, withCredential: false);

        await IoTAssert.ThrowsAsync(IoTErrorKind.AlreadyExists, () => RegisterAsync(id, new Dictionary<string, string> { ["second"] = "yes" }, withCredential: false));

        var device = await Provider.Registry.GetAsync(id, Ct);
        Assert.Equal("yes", device.Attributes["first"]);
        Assert.False(device.Attributes.ContainsKey("second"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("slash/inside")]
    [InlineData("plus+hash#")]
    public async Task A_device_id_no_provider_accepts_is_an_ArgumentException_before_any_call(string id)
    {
        Assert.ThrowsAny<ArgumentException>(() => Provider.DeviceIdRules.Validate(id));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Provider.Registry.RegisterAsync(new DeviceRegistration { Id = id }, Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Provider.Registry.GetAsync(id, Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Provider.State.UpdateDesiredAsync(id, new JsonObject { ["a"] = 1 }, cancellationToken: Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Provider.Commands.InvokeAsync(id, new DeviceCommand { Name = "reboot" }, Ct));
    }

    [Fact]
    public async Task A_bad_command_or_query_is_an_ArgumentException()
    {
        var id = (await RegisterAsync(withCredential: false)).Device.Id;

        await Assert.ThrowsAnyAsync<ArgumentException>(() => Provider.Commands.InvokeAsync(id, new DeviceCommand { Name = "bad name" }, Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Provider.Commands.InvokeAsync(id, new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromHours(1) }, Ct));
        Assert.ThrowsAny<ArgumentException>(() => Provider.Registry.ListAsync(new DeviceQuery { PageSize = 0 }, Ct));
        Assert.ThrowsAny<ArgumentException>(() => Provider.Registry.ListAsync(new DeviceQuery { AttributeValue = "v" }, Ct));
    }

    [Fact]
    public async Task A_device_sending_another_device_s_record_is_an_ArgumentException_and_the_connection_stays_usable()
    {
        var registration = await RegisterAsync();
        var device = await ConnectAsync(registration);

        await Assert.ThrowsAnyAsync<ArgumentException>(async () =>
            await device.SendTelemetryAsync(new TelemetryRecord(ProviderFixture.NewDeviceId("other"), "level", 1, DateTimeOffset.UtcNow), Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await device.SendTelemetryAsync(default, Ct));

        await device.SendTelemetryAsync(new TelemetryRecord(registration.Device.Id, "level", 1, DateTimeOffset.UtcNow), Ct);
        await device.FlushAsync(Ct);
        Assert.True(device.IsConnected);
    }
}
