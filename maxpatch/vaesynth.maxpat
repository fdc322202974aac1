{
	"patcher" : {
		"fileversion" : 1,
		"appversion" : {
			"major" : 8,
			"minor" : 5,
			"revision" : 5,
			"architecture" : "x64",
			"modernui" : 1
		},
		"classnamespace" : "box",
		"rect" : [
			100.0,
			100.0,
			1300.0,
			980.0
		],
		"openrect" : [
			0.0,
			0.0,
			570.0,
			169.0
		],
		"openinpresentation" : 1,
		"default_fontsize" : 10.0,
		"default_fontface" : 0,
		"default_fontname" : "Arial Bold",
		"gridonopen" : 1,
		"gridsize" : [
			8.0,
			8.0
		],
		"gridsnaponopen" : 1,
		"objectsnaponopen" : 1,
		"statusbarvisible" : 2,
		"toolbarvisible" : 1,
		"boxanimatetime" : 500,
		"enablehscroll" : 1,
		"enablevscroll" : 1,
		"devicewidth" : 570.0,
		"description" : "vaesynth: play the latent-space synth from Live over OSC",
		"digest" : "",
		"tags" : "vaesynth OSC",
		"style" : "",
		"subpatcher_template" : "",
		"assistshowspatchername" : 0,
		"boxes" : [
			{
				"box" : {
					"id" : "obj-1",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 0,
					"patching_rect" : [
						40.0,
						760.0,
						166.0,
						22.0
					],
					"text" : "udpsend 127.0.0.1 9000"
				}
			},
			{
				"box" : {
					"id" : "obj-2",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						"int"
					],
					"patching_rect" : [
						40.0,
						20.0,
						54.0,
						22.0
					],
					"text" : "midiin"
				}
			},
			{
				"box" : {
					"id" : "obj-3",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 0,
					"patching_rect" : [
						40.0,
						60.0,
						61.0,
						22.0
					],
					"text" : "midiout"
				}
			},
			{
				"box" : {
					"id" : "obj-4",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 3,
					"outlettype" : [
						"int",
						"int",
						"int"
					],
					"patching_rect" : [
						120.0,
						20.0,
						54.0,
						22.0
					],
					"text" : "notein"
				}
			},
			{
				"box" : {
					"id" : "obj-5",
					"maxclass" : "newobj",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						120.0,
						60.0,
						68.0,
						22.0
					],
					"text" : "pack 0 0"
				}
			},
			{
				"box" : {
					"id" : "obj-6",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						120.0,
						100.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/note"
				}
			},
			{
				"box" : {
					"id" : "obj-7",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"int",
						"int"
					],
					"patching_rect" : [
						300.0,
						20.0,
						54.0,
						22.0
					],
					"text" : "bendin"
				}
			},
			{
				"box" : {
					"id" : "obj-8",
					"maxclass" : "newobj",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						"int"
					],
					"patching_rect" : [
						300.0,
						60.0,
						40.0,
						22.0
					],
					"text" : "- 64"
				}
			},
			{
				"box" : {
					"id" : "obj-9",
					"maxclass" : "newobj",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						"float"
					],
					"patching_rect" : [
						300.0,
						100.0,
						75.0,
						22.0
					],
					"text" : "* 0.03125"
				}
			},
			{
				"box" : {
					"id" : "obj-10",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						300.0,
						140.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/bend"
				}
			},
			{
				"box" : {
					"id" : "obj-11",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						40.0,
						200.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						8.0,
						20.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "PC 1",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "PC 1",
							"parameter_shortname" : "PC1",
							"parameter_type" : 0,
							"parameter_mmin" : -3.0,
							"parameter_mmax" : 3.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 1,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-12",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						40.0,
						270.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/pc 0"
				}
			},
			{
				"box" : {
					"id" : "obj-13",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						110.0,
						200.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						50.0,
						20.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "PC 2",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "PC 2",
							"parameter_shortname" : "PC2",
							"parameter_type" : 0,
							"parameter_mmin" : -3.0,
							"parameter_mmax" : 3.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 1,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-14",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						110.0,
						270.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/pc 1"
				}
			},
			{
				"box" : {
					"id" : "obj-15",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						180.0,
						200.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						92.0,
						20.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "PC 3",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "PC 3",
							"parameter_shortname" : "PC3",
							"parameter_type" : 0,
							"parameter_mmin" : -3.0,
							"parameter_mmax" : 3.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 1,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-16",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						180.0,
						270.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/pc 2"
				}
			},
			{
				"box" : {
					"id" : "obj-17",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						250.0,
						200.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						134.0,
						20.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "PC 4",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "PC 4",
							"parameter_shortname" : "PC4",
							"parameter_type" : 0,
							"parameter_mmin" : -3.0,
							"parameter_mmax" : 3.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 1,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-18",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						250.0,
						270.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/pc 3"
				}
			},
			{
				"box" : {
					"id" : "obj-19",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						320.0,
						200.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						176.0,
						20.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "PC 5",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "PC 5",
							"parameter_shortname" : "PC5",
							"parameter_type" : 0,
							"parameter_mmin" : -3.0,
							"parameter_mmax" : 3.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 1,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-20",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						320.0,
						270.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/pc 4"
				}
			},
			{
				"box" : {
					"id" : "obj-21",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						390.0,
						200.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						218.0,
						20.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "PC 6",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "PC 6",
							"parameter_shortname" : "PC6",
							"parameter_type" : 0,
							"parameter_mmin" : -3.0,
							"parameter_mmax" : 3.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 1,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-22",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						390.0,
						270.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/pc 5"
				}
			},
			{
				"box" : {
					"id" : "obj-23",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						460.0,
						200.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						260.0,
						20.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "PC 7",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "PC 7",
							"parameter_shortname" : "PC7",
							"parameter_type" : 0,
							"parameter_mmin" : -3.0,
							"parameter_mmax" : 3.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 1,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-24",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						460.0,
						270.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/pc 6"
				}
			},
			{
				"box" : {
					"id" : "obj-25",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						530.0,
						200.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						302.0,
						20.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "PC 8",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "PC 8",
							"parameter_shortname" : "PC8",
							"parameter_type" : 0,
							"parameter_mmin" : -3.0,
							"parameter_mmax" : 3.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 1,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-26",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						530.0,
						270.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/pc 7"
				}
			},
			{
				"box" : {
					"id" : "obj-27",
					"maxclass" : "comment",
					"numinlets" : 1,
					"numoutlets" : 0,
					"patching_rect" : [
						600.0,
						200.0,
						200.0,
						20.0
					],
					"text" : "PCA (standard deviations)",
					"presentation" : 1,
					"presentation_rect" : [
						8.0,
						2.0,
						200.0,
						18.0
					]
				}
			},
			{
				"box" : {
					"id" : "obj-28",
					"maxclass" : "pictslider",
					"numinlets" : 2,
					"numoutlets" : 2,
					"outlettype" : [
						"int",
						"int"
					],
					"patching_rect" : [
						40.0,
						320.0,
						100.0,
						100.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						350.0,
						20.0,
						100.0,
						100.0
					],
					"leftvalue" : 0,
					"rightvalue" : 127,
					"bottomvalue" : 0,
					"topvalue" : 127
				}
			},
			{
				"box" : {
					"id" : "obj-29",
					"maxclass" : "newobj",
					"numinlets" : 6,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						160.0,
						330.0,
						152.0,
						22.0
					],
					"text" : "scale 0 127 -3.0 3.0"
				}
			},
			{
				"box" : {
					"id" : "obj-30",
					"maxclass" : "newobj",
					"numinlets" : 6,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						320.0,
						330.0,
						152.0,
						22.0
					],
					"text" : "scale 0 127 -3.0 3.0"
				}
			},
			{
				"box" : {
					"id" : "obj-31",
					"maxclass" : "comment",
					"numinlets" : 1,
					"numoutlets" : 0,
					"patching_rect" : [
						40.0,
						300.0,
						100.0,
						20.0
					],
					"text" : "PC 1 / PC 2",
					"presentation" : 1,
					"presentation_rect" : [
						350.0,
						2.0,
						100.0,
						18.0
					]
				}
			},
			{
				"box" : {
					"id" : "obj-32",
					"maxclass" : "live.menu",
					"numinlets" : 1,
					"numoutlets" : 3,
					"outlettype" : [
						"",
						"",
						"float"
					],
					"patching_rect" : [
						40.0,
						460.0,
						80.0,
						15.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						460.0,
						20.0,
						100.0,
						15.0
					],
					"parameter_enable" : 1,
					"varname" : "Engine",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "Engine",
							"parameter_shortname" : "Engine",
							"parameter_type" : 2,
							"parameter_mmin" : 0.0,
							"parameter_mmax" : 1.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 9,
							"parameter_invisible" : 0,
							"parameter_enum" : [
								"oscbank",
								"istft"
							]
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-33",
					"maxclass" : "newobj",
					"numinlets" : 3,
					"numoutlets" : 3,
					"outlettype" : [
						"bang",
						"bang",
						""
					],
					"patching_rect" : [
						40.0,
						490.0,
						61.0,
						22.0
					],
					"text" : "sel 0 1"
				}
			},
			{
				"box" : {
					"id" : "obj-34",
					"maxclass" : "message",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						40.0,
						520.0,
						180.0,
						22.0
					],
					"text" : "/vaesynth/engine oscbank"
				}
			},
			{
				"box" : {
					"id" : "obj-35",
					"maxclass" : "message",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						240.0,
						520.0,
						166.0,
						22.0
					],
					"text" : "/vaesynth/engine istft"
				}
			},
			{
				"box" : {
					"id" : "obj-36",
					"maxclass" : "live.dial",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						460.0,
						440.0,
						44.0,
						48.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						460.0,
						40.0,
						41.0,
						48.0
					],
					"parameter_enable" : 1,
					"varname" : "Gain",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "Gain",
							"parameter_shortname" : "Gain",
							"parameter_type" : 0,
							"parameter_mmin" : -70.0,
							"parameter_mmax" : 12.0,
							"parameter_initial" : [
								0.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 4,
							"parameter_invisible" : 0
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-37",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						460.0,
						500.0,
						166.0,
						22.0
					],
					"text" : "prepend /vaesynth/gain"
				}
			},
			{
				"box" : {
					"id" : "obj-38",
					"maxclass" : "message",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						600.0,
						500.0,
						117.0,
						22.0
					],
					"text" : "/vaesynth/panic",
					"presentation" : 1,
					"presentation_rect" : [
						505.0,
						55.0,
						60.0,
						20.0
					]
				}
			},
			{
				"box" : {
					"id" : "obj-39",
					"maxclass" : "comment",
					"numinlets" : 1,
					"numoutlets" : 0,
					"patching_rect" : [
						40.0,
						560.0,
						40.0,
						20.0
					],
					"text" : "host",
					"presentation" : 1,
					"presentation_rect" : [
						460.0,
						95.0,
						30.0,
						18.0
					]
				}
			},
			{
				"box" : {
					"id" : "obj-40",
					"maxclass" : "textedit",
					"numinlets" : 1,
					"numoutlets" : 4,
					"outlettype" : [
						"",
						"int",
						"",
						""
					],
					"patching_rect" : [
						40.0,
						580.0,
						100.0,
						20.0
					],
					"text" : "127.0.0.1",
					"presentation" : 1,
					"presentation_rect" : [
						490.0,
						95.0,
						75.0,
						18.0
					],
					"lines" : 1,
					"keymode" : 1
				}
			},
			{
				"box" : {
					"id" : "obj-41",
					"maxclass" : "newobj",
					"numinlets" : 2,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						""
					],
					"patching_rect" : [
						40.0,
						610.0,
						82.0,
						22.0
					],
					"text" : "route text"
				}
			},
			{
				"box" : {
					"id" : "obj-42",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						40.0,
						640.0,
						96.0,
						22.0
					],
					"text" : "prepend host"
				}
			},
			{
				"box" : {
					"id" : "obj-43",
					"maxclass" : "comment",
					"numinlets" : 1,
					"numoutlets" : 0,
					"patching_rect" : [
						200.0,
						560.0,
						40.0,
						20.0
					],
					"text" : "port",
					"presentation" : 1,
					"presentation_rect" : [
						460.0,
						117.0,
						30.0,
						18.0
					]
				}
			},
			{
				"box" : {
					"id" : "obj-44",
					"maxclass" : "live.numbox",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						200.0,
						580.0,
						50.0,
						15.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						490.0,
						117.0,
						75.0,
						15.0
					],
					"parameter_enable" : 1,
					"varname" : "OSC Port",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "OSC Port",
							"parameter_shortname" : "Port",
							"parameter_type" : 0,
							"parameter_mmin" : 1.0,
							"parameter_mmax" : 65535.0,
							"parameter_initial" : [
								9000.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 0,
							"parameter_invisible" : 1
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-45",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						"int"
					],
					"patching_rect" : [
						200.0,
						610.0,
						40.0,
						22.0
					],
					"text" : "t i"
				}
			},
			{
				"box" : {
					"id" : "obj-46",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						200.0,
						640.0,
						96.0,
						22.0
					],
					"text" : "prepend port"
				}
			},
			{
				"box" : {
					"id" : "obj-47",
					"maxclass" : "comment",
					"numinlets" : 1,
					"numoutlets" : 0,
					"patching_rect" : [
						300.0,
						560.0,
						60.0,
						20.0
					],
					"text" : "feedback",
					"presentation" : 1,
					"presentation_rect" : [
						460.0,
						137.0,
						50.0,
						18.0
					]
				}
			},
			{
				"box" : {
					"id" : "obj-48",
					"maxclass" : "live.numbox",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						"float"
					],
					"patching_rect" : [
						300.0,
						580.0,
						50.0,
						15.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						510.0,
						137.0,
						55.0,
						15.0
					],
					"parameter_enable" : 1,
					"varname" : "Feedback Port",
					"saved_attribute_attributes" : {
						"valueof" : {
							"parameter_longname" : "Feedback Port",
							"parameter_shortname" : "FbPort",
							"parameter_type" : 0,
							"parameter_mmin" : 1.0,
							"parameter_mmax" : 65535.0,
							"parameter_initial" : [
								9001.0
							],
							"parameter_initial_enable" : 1,
							"parameter_unitstyle" : 0,
							"parameter_invisible" : 1
						}
					}
				}
			},
			{
				"box" : {
					"id" : "obj-49",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"int",
						"int"
					],
					"patching_rect" : [
						300.0,
						610.0,
						47.0,
						22.0
					],
					"text" : "t i i"
				}
			},
			{
				"box" : {
					"id" : "obj-50",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 3,
					"outlettype" : [
						"bang",
						"int",
						"int"
					],
					"patching_rect" : [
						420.0,
						580.0,
						117.0,
						22.0
					],
					"text" : "live.thisdevice"
				}
			},
			{
				"box" : {
					"id" : "obj-51",
					"maxclass" : "newobj",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						"bang"
					],
					"patching_rect" : [
						420.0,
						610.0,
						82.0,
						22.0
					],
					"text" : "metro 2000"
				}
			},
			{
				"box" : {
					"id" : "obj-52",
					"maxclass" : "newobj",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						"int"
					],
					"patching_rect" : [
						420.0,
						640.0,
						54.0,
						22.0
					],
					"text" : "i 9001"
				}
			},
			{
				"box" : {
					"id" : "obj-53",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						420.0,
						680.0,
						194.0,
						22.0
					],
					"text" : "prepend /vaesynth/feedback"
				}
			},
			{
				"box" : {
					"id" : "obj-54",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						300.0,
						680.0,
						96.0,
						22.0
					],
					"text" : "prepend port"
				}
			},
			{
				"box" : {
					"id" : "obj-55",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						300.0,
						720.0,
						117.0,
						22.0
					],
					"text" : "udpreceive 9001"
				}
			},
			{
				"box" : {
					"id" : "obj-56",
					"maxclass" : "newobj",
					"numinlets" : 3,
					"numoutlets" : 3,
					"outlettype" : [
						"",
						"",
						""
					],
					"patching_rect" : [
						600.0,
						760.0,
						355.0,
						22.0
					],
					"text" : "route /vaesynth/state/pc /vaesynth/state/spectrum"
				}
			},
			{
				"box" : {
					"id" : "obj-57",
					"maxclass" : "multislider",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						""
					],
					"patching_rect" : [
						600.0,
						820.0,
						160.0,
						40.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						8.0,
						72.0,
						334.0,
						28.0
					],
					"size" : 8,
					"setminmax" : [
						-3.0,
						3.0
					],
					"settype" : 1,
					"setstyle" : 1,
					"ignoreclick" : 1,
					"contdata" : 1
				}
			},
			{
				"box" : {
					"id" : "obj-58",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						600.0,
						790.0,
						89.0,
						22.0
					],
					"text" : "prepend set"
				}
			},
			{
				"box" : {
					"id" : "obj-59",
					"maxclass" : "newobj",
					"numinlets" : 2,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						""
					],
					"patching_rect" : [
						800.0,
						790.0,
						82.0,
						22.0
					],
					"text" : "zl slice 2"
				}
			},
			{
				"box" : {
					"id" : "obj-60",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"float",
						"float"
					],
					"patching_rect" : [
						800.0,
						820.0,
						82.0,
						22.0
					],
					"text" : "unpack f f"
				}
			},
			{
				"box" : {
					"id" : "obj-61",
					"maxclass" : "newobj",
					"numinlets" : 2,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						800.0,
						880.0,
						68.0,
						22.0
					],
					"text" : "pack 0 0"
				}
			},
			{
				"box" : {
					"id" : "obj-62",
					"maxclass" : "newobj",
					"numinlets" : 6,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						800.0,
						850.0,
						152.0,
						22.0
					],
					"text" : "scale -3.0 3.0 0 127"
				}
			},
			{
				"box" : {
					"id" : "obj-63",
					"maxclass" : "newobj",
					"numinlets" : 6,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						920.0,
						850.0,
						152.0,
						22.0
					],
					"text" : "scale -3.0 3.0 0 127"
				}
			},
			{
				"box" : {
					"id" : "obj-64",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						800.0,
						910.0,
						89.0,
						22.0
					],
					"text" : "prepend set"
				}
			},
			{
				"box" : {
					"id" : "obj-65",
					"maxclass" : "multislider",
					"numinlets" : 1,
					"numoutlets" : 2,
					"outlettype" : [
						"",
						""
					],
					"patching_rect" : [
						1000.0,
						820.0,
						256.0,
						60.0
					],
					"presentation" : 1,
					"presentation_rect" : [
						8.0,
						104.0,
						334.0,
						60.0
					],
					"size" : 64,
					"setminmax" : [
						-100.0,
						0.0
					],
					"settype" : 1,
					"setstyle" : 1,
					"ignoreclick" : 1
				}
			},
			{
				"box" : {
					"id" : "obj-66",
					"maxclass" : "newobj",
					"numinlets" : 1,
					"numoutlets" : 1,
					"outlettype" : [
						""
					],
					"patching_rect" : [
						1000.0,
						790.0,
						89.0,
						22.0
					],
					"text" : "prepend set"
				}
			},
			{
				"box" : {
					"id" : "obj-67",
					"maxclass" : "comment",
					"numinlets" : 1,
					"numoutlets" : 0,
					"patching_rect" : [
						600.0,
						20.0,
						420.0,
						20.0
					],
					"text" : "vaesynth: sends OSC to `vaesynth serve`; generated by python -m vaesynth.maxpatch.generate - edit maxpatch/maxdevice.py, not this file"
				}
			}
		],
		"lines" : [
			{
				"patchline" : {
					"destination" : [
						"obj-3",
						0
					],
					"source" : [
						"obj-2",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-5",
						0
					],
					"source" : [
						"obj-4",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-5",
						1
					],
					"source" : [
						"obj-4",
						1
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-6",
						0
					],
					"source" : [
						"obj-5",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-6",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-8",
						0
					],
					"source" : [
						"obj-7",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-9",
						0
					],
					"source" : [
						"obj-8",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-10",
						0
					],
					"source" : [
						"obj-9",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-12",
						0
					],
					"source" : [
						"obj-11",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-12",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-14",
						0
					],
					"source" : [
						"obj-13",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-14",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-16",
						0
					],
					"source" : [
						"obj-15",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-16",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-18",
						0
					],
					"source" : [
						"obj-17",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-18",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-20",
						0
					],
					"source" : [
						"obj-19",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-20",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-22",
						0
					],
					"source" : [
						"obj-21",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-22",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-24",
						0
					],
					"source" : [
						"obj-23",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-24",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-26",
						0
					],
					"source" : [
						"obj-25",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-26",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-29",
						0
					],
					"source" : [
						"obj-28",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-11",
						0
					],
					"source" : [
						"obj-29",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-30",
						0
					],
					"source" : [
						"obj-28",
						1
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-13",
						0
					],
					"source" : [
						"obj-30",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-33",
						0
					],
					"source" : [
						"obj-32",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-34",
						0
					],
					"source" : [
						"obj-33",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-34",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-35",
						0
					],
					"source" : [
						"obj-33",
						1
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-35",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-37",
						0
					],
					"source" : [
						"obj-36",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-37",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-38",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-41",
						0
					],
					"source" : [
						"obj-40",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-42",
						0
					],
					"source" : [
						"obj-41",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-42",
						0
					],
					"source" : [
						"obj-41",
						1
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-42",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-45",
						0
					],
					"source" : [
						"obj-44",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-46",
						0
					],
					"source" : [
						"obj-45",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-46",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-49",
						0
					],
					"source" : [
						"obj-48",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-51",
						0
					],
					"source" : [
						"obj-50",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-52",
						0
					],
					"source" : [
						"obj-51",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-52",
						0
					],
					"source" : [
						"obj-49",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-52",
						1
					],
					"source" : [
						"obj-49",
						1
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-53",
						0
					],
					"source" : [
						"obj-52",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-1",
						0
					],
					"source" : [
						"obj-53",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-54",
						0
					],
					"source" : [
						"obj-49",
						1
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-55",
						0
					],
					"source" : [
						"obj-54",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-56",
						0
					],
					"source" : [
						"obj-55",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-58",
						0
					],
					"source" : [
						"obj-56",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-57",
						0
					],
					"source" : [
						"obj-58",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-59",
						0
					],
					"source" : [
						"obj-56",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-60",
						0
					],
					"source" : [
						"obj-59",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-62",
						0
					],
					"source" : [
						"obj-60",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-61",
						0
					],
					"source" : [
						"obj-62",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-63",
						0
					],
					"source" : [
						"obj-60",
						1
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-61",
						1
					],
					"source" : [
						"obj-63",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-64",
						0
					],
					"source" : [
						"obj-61",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-28",
						0
					],
					"source" : [
						"obj-64",
						0
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-66",
						0
					],
					"source" : [
						"obj-56",
						1
					]
				}
			},
			{
				"patchline" : {
					"destination" : [
						"obj-65",
						0
					],
					"source" : [
						"obj-66",
						0
					]
				}
			}
		],
		"parameters" : {
			"obj-11" : [
				"PC 1",
				"PC1",
				0
			],
			"obj-13" : [
				"PC 2",
				"PC2",
				0
			],
			"obj-15" : [
				"PC 3",
				"PC3",
				0
			],
			"obj-17" : [
				"PC 4",
				"PC4",
				0
			],
			"obj-19" : [
				"PC 5",
				"PC5",
				0
			],
			"obj-21" : [
				"PC 6",
				"PC6",
				0
			],
			"obj-23" : [
				"PC 7",
				"PC7",
				0
			],
			"obj-25" : [
				"PC 8",
				"PC8",
				0
			],
			"obj-32" : [
				"Engine",
				"Engine",
				0
			],
			"obj-36" : [
				"Gain",
				"Gain",
				0
			],
			"obj-44" : [
				"OSC Port",
				"Port",
				0
			],
			"obj-48" : [
				"Feedback Port",
				"FbPort",
				0
			],
			"parameterbanks" : {
				"0" : {
					"index" : 0,
					"name" : "PCA",
					"parameters" : [
						"PC 1",
						"PC 2",
						"PC 3",
						"PC 4",
						"PC 5",
						"PC 6",
						"PC 7",
						"PC 8"
					]
				}
			},
			"inherited_shortname" : 1
		},
		"dependency_cache" : [],
		"latency" : 0,
		"is_mpe" : 0,
		"external_mpe_tuning_enabled" : 0,
		"minimum_live_version" : "",
		"minimum_max_version" : "",
		"platform_compatibility" : 0,
		"autosave" : 0
	}
}
